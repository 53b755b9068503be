"""A PSD process killed (SIGKILL-like ``os._exit``, or a real SIGKILL at a random moment)
in the middle of printing or of acknowledging its log: after restart the registers balance
and agree with the piece log, and the host's retry prints exactly once."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postroom.core.meters import tokens
from postroom.core.money import Money
from postroom.hal.meter.psd import Psd
from postroom.hal.meter.store import APPEND_STEPS, STEPS

KEY = b"k" * 32
DIGEST = hashlib.sha256(b"rates").hexdigest()
TODAY = datetime.now(UTC).date().isoformat()

CHILD = """
import os, sys
from postroom.hal.meter.psd import Psd
step = sys.argv[2]
def die(at):
    if at == step:
        os._exit(9)
psd = Psd.open(sys.argv[1], fault=die)
psd.handle({request})
os._exit(0)
"""

# prints one piece after the other until killed; says which ones were answered
LOOP = """
import sys
from postroom.hal.meter.psd import Psd
psd = Psd.open(sys.argv[1])
request = {request}
n = int(sys.argv[2])
while True:
    request["rid"] = f"loop-{{n}}"
    assert psd.handle(request)["ok"]
    print(n, flush=True)
    n += 1
"""


def request(rid: str = "kill-1") -> dict[str, object]:
    return {
        "cmd": "print",
        "rid": rid,
        "mills": 500,
        "currency": "USD",
        "rate_digest": DIGEST,
        "service": "letter",
        "date": TODAY,
        "origin_zip": "12345",
    }


def ready(folder: Path, funds: int = 2000) -> Psd:
    psd = Psd.open(folder, "KILL1", meter_key=KEY)
    psd._commit({**psd.state, "rate_digest": DIGEST})
    token = tokens.issue(KEY, "KILL1", 1, Money(funds, "USD"), datetime.now(UTC) + timedelta(1))
    assert psd.handle({"cmd": "refill", "rid": "r1", "token": token.hex()})["ok"]
    return psd


def agree(psd: Psd) -> None:
    """Registers and log agree: the log holds exactly the pieces after the last acked."""
    psd.check_invariant()
    pieces = psd.registers()["pieces"]
    assert [p.piece for p in psd.log] == list(range(psd.state["log_acked"] + 1, pieces + 1))
    assert psd.registers()["ascending"] == 500 * pieces


@pytest.mark.parametrize("step", APPEND_STEPS)
def test_killed_during_print(tmp_path: Path, step: str) -> None:
    folder = tmp_path / "psd"
    ready(folder)
    code = subprocess.run(
        [sys.executable, "-c", CHILD.format(request=request()), str(folder), step],
        check=False,
        timeout=60,
    ).returncode
    assert code == 9

    after = Psd.open(folder)
    agree(after)
    assert after.registers()["pieces"] in (0, 1)
    assert after.handle(request())["ok"]
    assert after.handle(request())["ok"]
    registers = after.registers()
    assert (registers["pieces"], registers["ascending"], registers["descending"]) == (1, 500, 1500)
    assert [p.entry["rid"] for p in Psd.open(folder).log] == ["kill-1"]


ACK = """
import os, sys
from postroom.hal.meter.psd import Psd
step, occurrence = sys.argv[2], int(sys.argv[3])
seen = []
def die(at):
    seen.append(at)
    if seen.count(step) == occurrence:
        os._exit(9)
psd = Psd.open(sys.argv[1], fault=die)
psd.handle({{"cmd": "ack_log", "up_to": 2, "token": "{token}"}})
os._exit(0)
"""


@pytest.mark.parametrize("occurrence", [1, 2], ids=["checkpoint", "compaction"])
@pytest.mark.parametrize("step", STEPS)
def test_killed_during_an_acknowledgement(tmp_path: Path, step: str, occurrence: int) -> None:
    """An acknowledgement writes the checkpoint, then the compacted log: killed in either."""
    folder = tmp_path / "psd"
    psd = ready(folder)
    for n in range(3):
        assert psd.handle(request(f"p{n}"))["ok"]
    token = tokens.issue_piece_ack(KEY, "KILL1", 2).hex()
    code = subprocess.run(
        [sys.executable, "-c", ACK.format(token=token), str(folder), step, str(occurrence)],
        check=False,
        timeout=60,
    ).returncode
    assert code == 9

    after = Psd.open(folder)
    agree(after)
    assert [p.piece for p in after.log] in ([1, 2, 3], [3])  # all kept, or 1-2 dropped
    assert after.handle({"cmd": "ack_log", "up_to": 2, "token": token})["ok"]  # the rerun
    assert [p.piece for p in Psd.open(folder).log] == [3]
    assert after.handle(request("p3"))["ok"]
    agree(Psd.open(folder))


def test_killed_at_random_moments_while_printing(tmp_path: Path) -> None:
    folder = tmp_path / "psd"
    ready(folder, funds=10**9)
    chance = random.Random(5)
    answered: set[str] = set()
    n = 0
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", LOOP.format(request=request()), str(folder), str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # started and printing
        time.sleep(chance.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        rest = child.communicate(timeout=60)[0]
        answered |= {f"loop-{line}" for line in (first + rest).split()}

        after = Psd.open(folder)
        agree(after)  # registers and log agree, whatever the moment
        logged = [str(p.entry["rid"]) for p in after.log]
        assert len(set(logged)) == len(logged)  # no piece counted twice
        assert answered <= set(logged)  # no answered piece lost
        # the host retries the piece it was printing when the device died: printed once,
        # whether the device had committed it or not
        in_flight = f"loop-{max((int(r[5:]) for r in answered), default=n - 1) + 1}"
        reply = after.handle(request(in_flight))
        assert reply["ok"]
        assert after.registers()["pieces"] == len(logged) + (in_flight not in logged)
        assert Psd.open(folder).handle(request(in_flight)) == reply
        answered.add(in_flight)
        n = after.registers()["pieces"]
        assert [p.entry["rid"] for p in after.log] == [f"loop-{i}" for i in range(n)]
    assert len(answered) > 12  # the children did print
