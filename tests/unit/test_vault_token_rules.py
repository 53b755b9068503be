"""The vault's pure rules for late proofs and cancelled refills: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postroom.core.errors import PermissionDenied
from postroom.core.ledger.model import (
    GENESIS_HASH,
    REPORT_TYPE_OF,
    MeterRegisters,
    Phase,
    ReportType,
    Transfer,
    TransferCode,
    TransferRequest,
)
from postroom.core.meters import tokens
from postroom.core.meters.refills import (
    IssuedToken,
    refill_cancel_id,
    refill_proof,
    token_cancellable,
)
from postroom.core.money import Money

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)
KEY = b"k" * 32


def token(sequence: int = 4, mills: int = 60_000) -> tokens.ResetToken:
    raw = tokens.issue(KEY, "PR-1", sequence, Money(mills, "USD"), EXPIRES, nonce=b"n" * 16)
    return tokens.decode(raw)[0]


def issued(mills: int = 60_000, *, applied: bool = False, cancelled: bool = False) -> IssuedToken:
    return IssuedToken(token(mills=mills), "text", applied, cancelled)


def reply(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": True,
        "applied": {"serial": "PR-1", "sequence": 4, "mills": 60_000},
        "registers": {},
        "at": "2026-11-29T08:15:00+00:00",
    }
    body.update(changes)
    return body


def test_a_proof_names_the_token_and_gives_the_device_time_of_application() -> None:
    assert refill_proof(reply(), token()) == datetime(2026, 11, 29, 8, 15, tzinfo=UTC)
    # a device that names no serial (its key, pinned for this serial, says which) and no time
    older = reply(applied={"sequence": 4, "mills": 60_000})
    del older["at"]
    assert refill_proof(older, token()) is None
    # a time the data center cannot read is not stored, and does not undo the proof
    assert refill_proof(reply(at="yesterday"), token()) is None
    assert refill_proof(reply(at="2026-11-29T08:15:00"), token()) is None  # no zone


@pytest.mark.parametrize(
    "changes",
    [
        {"ok": False},
        {"applied": None},
        {"applied": {"serial": "PR-1", "sequence": 5, "mills": 60_000}},
        {"applied": {"serial": "PR-1", "sequence": 4, "mills": 60_001}},
        {"applied": {"serial": "PR-2", "sequence": 4, "mills": 60_000}},
        {"applied": {"serial": "PR-1", "sequence": "4", "mills": 60_000}},
    ],
)
def test_a_reply_for_another_token_proves_nothing(changes: dict[str, Any]) -> None:
    with pytest.raises(PermissionDenied) as refused:
        refill_proof(reply(**changes), token())
    assert refused.value.code == "token_proof_mismatch"


def test_only_an_expired_unapplied_refill_is_cancellable() -> None:
    assert not token_cancellable(issued(), EXPIRES - timedelta(seconds=1))
    assert token_cancellable(issued(), EXPIRES)
    assert not token_cancellable(issued(applied=True), EXPIRES + timedelta(days=30))
    assert not token_cancellable(issued(cancelled=True), EXPIRES + timedelta(days=30))
    assert not token_cancellable(issued(mills=0), EXPIRES + timedelta(days=30))  # a sync token


def test_a_cancelled_refill_leaves_the_registers_as_if_never_refilled() -> None:
    regs = MeterRegisters(7, "PR-1", 1, "USPS", "USD", descending=90_000, ascending=10_000,
                          control_sum=100_000)  # fmt: skip
    back = Transfer(1, refill_cancel_id("PR-1", 4), 7, 2, 60_000, "USD", Phase.POSTED,
                    TransferCode.REFILL_CANCEL, None, None, None, 0, "r1", "h", NOW,
                    GENESIS_HASH, "")  # fmt: skip
    after = regs.after(back)
    assert (after.descending, after.ascending, after.control_sum) == (30_000, 10_000, 40_000)
    assert after.consistent
    assert REPORT_TYPE_OF[TransferCode.REFILL_CANCEL] is ReportType.TRANSFER


def test_the_cancel_id_is_one_per_token_and_a_valid_transfer_id() -> None:
    longest = "P" * tokens.MAX_SERIAL
    for serial, sequence in (("PR-1", 4), (longest, 2**63)):
        TransferRequest(
            id=refill_cancel_id(serial, sequence), debit=1, credit=2, amount=1, currency="USD"
        ).validate()
    assert refill_cancel_id("PR-1", 4) != refill_cancel_id("PR-1", 5)
