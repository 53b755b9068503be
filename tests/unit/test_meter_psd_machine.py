"""Hypothesis state machine: refills, prints, retries, locks and power cuts on one PSD.

After every step: ascending + descending == control == sum of applied refills, and each
request id is counted at most once (pieces == distinct printed ids).
"""

import hashlib
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from postroom.core.clock import FrozenClock
from postroom.core.meters import tokens
from postroom.core.money import Money
from postroom.hal.meter.psd import DeviceReset, Psd
from postroom.hal.meter.store import APPEND_STEPS, STEPS

KEY = b"s" * 32
DIGEST = hashlib.sha256(b"rates").hexdigest()


class Cut(Exception):
    pass


class PsdMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="psd-machine-"))
        self.clock = FrozenClock.at("2026-11-23T12:00:00+00:00")
        self.psd = self.open()
        self.psd.state["rate_digest"] = DIGEST  # installing is tested elsewhere
        self.psd._commit(dict(self.psd.state))
        self.sequence = 0
        self.refilled = 0
        self.printed: dict[str, int] = {}
        self.locked = False
        self.acked = 0

    def open(self):
        return Psd.open(self.folder, "SNM", clock=self.clock, meter_key=KEY)

    def teardown(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def print_request(self, rid, mills):
        return {
            "cmd": "print",
            "rid": rid,
            "mills": mills,
            "currency": "USD",
            "rate_digest": DIGEST,
            "service": "letter",
            "date": "2026-11-23",
            "origin_zip": "12345",
        }

    def expect_print(self, rid, mills, reply):
        if rid in self.printed:
            assert reply["ok"], reply
        elif reply["ok"]:
            self.printed[rid] = mills
        else:
            code = reply["error"]["code"]
            assert code in {"insufficient_funds", "meter_locked"}, code
            assert code != "meter_locked" or self.locked
            assert code != "insufficient_funds" or mills > self.descending

    @property
    def descending(self):
        return self.refilled - sum(self.printed.values())

    @rule(mills=st.integers(0, 5_000))
    def refill(self, mills):
        self.sequence += 1
        token = tokens.issue(
            KEY, "SNM", self.sequence, Money(mills, "USD"), self.clock.now() + timedelta(days=1)
        )
        reply = self.psd.handle({"cmd": "refill", "rid": f"r{self.sequence}", "token": token.hex()})
        assert reply["ok"], reply
        self.refilled += mills

    @rule(n=st.integers(0, 30), mills=st.integers(1, 3_000))
    def print_piece(self, n, mills):
        rid = f"p{n}-{mills}"  # a repeated id always carries the same body (a retry)
        self.expect_print(rid, mills, self.psd.handle(self.print_request(rid, mills)))

    @rule(n=st.integers(0, 30), mills=st.integers(1, 3_000), step=st.sampled_from(APPEND_STEPS))
    def power_cut_during_print(self, n, mills, step):
        rid = f"p{n}-{mills}"

        def cut(at):
            if at == step:
                raise Cut(at)

        self.psd.fault = cut
        try:
            reply = self.psd.handle(self.print_request(rid, mills))
        except Cut:
            self.psd = self.open()  # power comes back
            reply = self.psd.handle(self.print_request(rid, mills))  # the host retries
        self.psd.fault = lambda at: None
        self.expect_print(rid, mills, reply)

    @rule(n=st.integers(0, 30), mills=st.integers(1, 3_000), after=st.booleans())
    def reset_mid_print(self, n, mills, after):
        rid = f"p{n}-{mills}"
        if after:
            self.psd.faults.reset_after_commit = 1
        else:
            self.psd.faults.reset_before_commit = 1
        try:
            reply = self.psd.handle(self.print_request(rid, mills))
        except DeviceReset:
            self.psd = self.psd.reopen()
            reply = self.psd.handle(self.print_request(rid, mills))
        self.psd.faults.reset_after_commit = self.psd.faults.reset_before_commit = 0
        self.expect_print(rid, mills, reply)

    @rule(step=st.sampled_from((None, *STEPS)), occurrence=st.sampled_from((1, 2)))
    def acknowledge_the_log(self, step, occurrence):
        """The data center acknowledges every piece printed; a power cut may interrupt the
        checkpoint (first write) or the compaction of the log file (second write)."""
        up_to = self.psd.registers()["pieces"]
        if not up_to:
            return
        before = self.acked
        seen = []

        def cut(at):
            seen.append(at)
            if seen.count(step) == occurrence:
                raise Cut(at)

        token = tokens.issue_piece_ack(KEY, "SNM", up_to).hex()
        self.psd.fault = cut
        try:
            assert self.psd.handle({"cmd": "ack_log", "up_to": up_to, "token": token})["ok"]
        except Cut:
            self.psd = self.open()
        self.psd.fault = lambda at: None
        self.acked = self.psd.state["log_acked"]
        assert self.acked in (before, up_to)

    @rule(lock=st.booleans())
    def lock_or_unlock(self, lock):
        assert self.psd.handle({"cmd": "lock" if lock else "unlock"})["ok"]
        self.locked = lock

    @rule()
    def reopen(self):
        self.psd = self.open()

    @invariant()
    def registers_balance_and_no_piece_counted_twice(self):
        self.psd.check_invariant()
        registers = self.psd.registers()
        assert registers["control"] == self.refilled
        assert registers["ascending"] == sum(self.printed.values())
        assert registers["pieces"] == len(self.printed)
        logged = list(range(self.acked + 1, len(self.printed) + 1))
        assert [p.piece for p in self.psd.log] == logged  # every piece not acknowledged
        in_print_order = list(self.printed.values())  # a dict keeps insertion order
        assert [p.entry["mills"] for p in self.psd.log] == in_print_order[self.acked :]
        disk = self.open()
        assert disk.registers() == registers  # the disk agrees with the device
        assert [p.entry for p in disk.log] == [p.entry for p in self.psd.log]


TestPsdMachine = PsdMachine.TestCase
TestPsdMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
