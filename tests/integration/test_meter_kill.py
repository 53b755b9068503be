"""A PSD process killed (SIGKILL-like ``os._exit``) at each step of the atomic write of a
print: after restart the registers balance, and the host's retry prints exactly once."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postroom.core.meters import tokens
from postroom.core.money import Money
from postroom.hal.meter.psd import Psd
from postroom.hal.meter.store import STEPS

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


def request() -> dict[str, object]:
    return {
        "cmd": "print",
        "rid": "kill-1",
        "mills": 500,
        "currency": "USD",
        "rate_digest": DIGEST,
        "service": "letter",
        "date": TODAY,
        "origin_zip": "12345",
    }


@pytest.mark.parametrize("step", STEPS)
def test_killed_during_print(tmp_path: Path, step: str) -> None:
    folder = tmp_path / "psd"
    psd = Psd.open(folder, "KILL1", meter_key=KEY)
    psd._commit({**psd.state, "rate_digest": DIGEST})
    token = tokens.issue(KEY, "KILL1", 1, Money(2000, "USD"), datetime.now(UTC) + timedelta(1))
    assert psd.handle({"cmd": "refill", "rid": "r1", "token": token.hex()})["ok"]

    code = subprocess.run(
        [sys.executable, "-c", CHILD.format(request=request()), str(folder), step],
        check=False,
        timeout=60,
    ).returncode
    assert code == 9

    after = Psd.open(folder)
    after.check_invariant()
    assert after.registers()["pieces"] in (0, 1)
    assert after.handle(request())["ok"]
    assert after.handle(request())["ok"]
    registers = after.registers()
    assert (registers["pieces"], registers["ascending"], registers["descending"]) == (1, 500, 1500)
