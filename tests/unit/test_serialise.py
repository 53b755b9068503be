"""The frontends' JSON writer: the kernel's values one way, details that never leave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from postroom.core.funding.model import Instrument
from postroom.core.money import Money
from postroom.core.payouts.model import PayoutPart, PayoutPartStatus
from postroom.frontends.serialise import converter, mills, stamp, utc
from postroom.frontends.serialise.funding import instrument_json

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_money_is_a_decimal_string_and_its_currency():
    assert converter.unstructure(Money(12_340, "USD")) == {"amount": "12.34", "currency": "USD"}
    assert mills(125, "EUR") == {"amount": "0.125", "currency": "EUR"}
    assert mills(-3_000, "USD") == {"amount": "-3.00", "currency": "USD"}


def test_moments_are_utc_with_z():
    paris = NOON.astimezone(timezone(timedelta(hours=1)))
    assert stamp(paris) == "2026-03-02T12:00:00Z"
    assert utc(paris) == "2026-03-02T12:00:00.000000Z"
    assert stamp(None) is None
    assert utc(None) is None


def test_an_attrs_object_unstructures_with_its_enum_values_and_money():
    part = PayoutPart(
        "po_1-1",
        "pm_1",
        Money(18_000, "USD"),
        "sandbox-card",
        PayoutPartStatus.SETTLED,
        "re_1",
        None,
        "",
        None,
    )
    assert converter.unstructure(part) == {
        "id": "po_1-1",
        "payment_id": "pm_1",
        "amount": {"amount": "18.00", "currency": "USD"},
        "source": "sandbox-card",
        "status": "settled",
        "source_reference": "re_1",
        "failure_code": None,
        "failure_message": "",
        "transfer_id": None,
    }


def test_an_instruments_details_and_owner_never_leave_the_server():
    instrument = Instrument(
        "pi_1",
        "1234567890",
        "ach-debit",
        "ACH ...6789",
        {"account_number": "000123456789"},
        "active",
        NOON,
    )
    written = instrument_json(instrument)
    assert list(written) == ["id", "source", "label", "status", "created_at"]
    assert "000123456789" not in str(written)
