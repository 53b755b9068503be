"""The built-in payment sources validate instruments like the real schemes do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postroom.core.errors import ValidationError
from postroom.core.ports import PaymentSource, PaymentStatus
from postroom.plugins.payments.ach import AchDebit
from postroom.plugins.payments.card import TEST_CARDS, SandboxCard
from postroom.plugins.payments.credit_line import PostageCreditLine
from postroom.plugins.payments.sepa import SepaDirectDebit

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

SEPA = {
    "iban": "DE89 3704 0044 0532 0130 00",
    "bic": "COBADEFFXXX",
    "mandate_reference": "PR-MANDATE-0001",
    "signature_date": "2026-02-01",
    "creditor_id": "DE98ZZZ09999999999",
    "account_holder": "Acme GmbH",
}
ACH = {
    "routing_number": "111000025",
    "account_number": "000123456789",
    "account_type": "checking",
    "account_holder": "Acme Inc.",
}
CARD = {"number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2028", "cvc": "123"}


def code_of(source: PaymentSource, instrument: dict[str, str]) -> str:
    with pytest.raises(ValidationError) as caught:
        source.validate_instrument(instrument, now=NOW)
    return caught.value.code


@pytest.mark.parametrize(
    "source", [SepaDirectDebit(), AchDebit(), SandboxCard(), PostageCreditLine()]
)
def test_every_source_implements_the_port(source):
    assert isinstance(source, PaymentSource)


# ------------------------------------------------------------------------------ SEPA


def test_sepa_mandate_is_normalised():
    stored = SepaDirectDebit().validate_instrument(SEPA, now=NOW)
    assert stored["iban"] == "DE89370400440532013000"
    assert stored["bic"] == "COBADEFFXXX"
    assert stored["creditor_id"] == "DE98ZZZ09999999999"
    assert "3000" in SepaDirectDebit().describe(stored)


def test_sepa_bic_is_optional_and_derived_from_the_iban_when_the_registry_knows_its_bank():
    stored = SepaDirectDebit().validate_instrument({**SEPA, "bic": ""}, now=NOW)
    assert stored["bic"] == "COBADEFFXXX"  # Commerzbank, bank code 370 400 44


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"iban": "DE89 3704 0044 0532 0130 01"}, "invalid_iban"),  # checksum
        ({"iban": "DE8937040044053201300"}, "invalid_iban"),  # length
        ({"iban": "XX89370400440532013000"}, "invalid_iban"),  # country
        ({"iban": "BR1500000000000010932840814P2"}, "iban_not_in_sepa"),
        ({"bic": "BNPAFRPPXXX"}, "bic_mismatch"),  # a French bank for a German IBAN
        ({"bic": "DEUTDEFFXXX"}, "bic_mismatch"),  # German, but not this IBAN's bank
        ({"bic": "COBADE"}, "invalid_bic"),
        ({"mandate_reference": ""}, "missing_field"),
        ({"mandate_reference": "x" * 36}, "invalid_mandate_reference"),
        ({"mandate_reference": "MANDATE#1"}, "invalid_mandate_reference"),
        ({"signature_date": "01/02/2026"}, "invalid_signature_date"),
        ({"signature_date": "2026-03-03"}, "mandate_signed_in_future"),
        ({"creditor_id": "DE99ZZZ09999999999"}, "invalid_creditor_id"),
        ({"account_holder": ""}, "missing_field"),
    ],
)
def test_sepa_refuses_each_fault_with_its_code(changes, code):
    assert code_of(SepaDirectDebit(), {**SEPA, **changes}) == code


def test_sepa_debit_is_submitted_not_settled_and_idempotent():
    source = SepaDirectDebit()
    stored = source.validate_instrument(SEPA, now=NOW)
    first = source.charge(stored, 50_000, "EUR", "key-1", now=NOW)
    assert first.status is PaymentStatus.PENDING
    assert source.charge(stored, 50_000, "EUR", "key-1", now=NOW) == first
    assert source.charge(stored, 50_000, "EUR", "key-2", now=NOW).reference != first.reference
    assert source.charge(stored, 50_000, "USD", "key-3", now=NOW).status is PaymentStatus.FAILED
    assert "AM04" in source.return_codes


# ------------------------------------------------------------------------------- ACH


def test_ach_account_is_normalised():
    stored = AchDebit().validate_instrument({**ACH, "routing_number": "1110-00025"}, now=NOW)
    assert stored["routing_number"] == "111000025"
    assert "6789" in AchDebit().describe(stored)
    assert "123456789" not in AchDebit().describe(stored).replace("...6789", "")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"routing_number": "111000026"}, "invalid_routing_number"),  # bad check digit
        ({"routing_number": "11100002"}, "invalid_routing_number"),
        ({"routing_number": "11100002X"}, "invalid_routing_number"),
        ({"account_number": "12"}, "invalid_account_number"),
        ({"account_number": "12345678901234567890"}, "invalid_account_number"),
        ({"account_type": "brokerage"}, "invalid_account_type"),
        ({"routing_number": ""}, "missing_field"),
    ],
)
def test_ach_refuses_each_fault_with_its_code(changes, code):
    assert code_of(AchDebit(), {**ACH, **changes}) == code


def test_ach_debit_is_pending_and_knows_r01():
    source = AchDebit()
    stored = source.validate_instrument(ACH, now=NOW)
    assert source.charge(stored, 1000, "USD", "k", now=NOW).status is PaymentStatus.PENDING
    assert source.return_codes["R01"] == "insufficient funds"


# ------------------------------------------------------------------------------ card


def test_card_stores_brand_last4_expiry_and_a_token_never_the_number():
    stored = SandboxCard().validate_instrument(CARD, now=NOW)
    assert stored["brand"] == "visa"
    assert stored["last4"] == "4242"
    assert (stored["exp_month"], stored["exp_year"]) == ("12", "2028")
    assert stored["token"] == "tok_sandbox_visa_4242"  # brand and last 4 only
    text = repr(stored)
    assert "4242424242424242" not in text
    assert "123" not in stored.values()
    assert SandboxCard().describe(stored) == "Visa ...4242 exp 12/2028"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"number": "4242424242424241"}, "luhn_check_failed"),
        ({"number": "4242"}, "invalid_card_number"),
        ({"number": "4111 1111 1111 1111 x"}, "invalid_card_number"),
        ({"number": "4012888888881881"}, "not_a_test_card"),  # valid Luhn, not in the set
        ({"exp_month": "13"}, "invalid_expiry"),
        ({"exp_year": "202"}, "invalid_expiry"),
        ({"exp_month": "2", "exp_year": "2026"}, "card_expired"),  # ended 2026-02-28
        ({"exp_month": "12", "exp_year": "25"}, "card_expired"),
        ({"cvc": "12"}, "invalid_cvc"),
        ({"cvc": "1234"}, "invalid_cvc"),
        ({"number": "378282246310005", "cvc": "123"}, "invalid_cvc"),  # Amex needs 4
        ({"cvc": ""}, "missing_field"),
    ],
)
def test_card_refuses_each_fault_with_its_code(changes, code):
    assert code_of(SandboxCard(), {**CARD, **changes}) == code


def test_card_valid_through_the_end_of_its_expiry_month():
    stored = SandboxCard().validate_instrument(
        {**CARD, "exp_month": "3", "exp_year": "2026"}, now=NOW
    )
    assert stored["exp_month"] == "03"
    later = datetime(2026, 4, 1, tzinfo=UTC)
    result = SandboxCard().charge(stored, 1000, "USD", "k", now=later)
    assert (result.status, result.failure_code) == (PaymentStatus.FAILED, "expired_card")


def test_amex_takes_a_four_digit_cvc():
    stored = SandboxCard().validate_instrument(
        {**CARD, "number": "3782 822463 10005", "cvc": "1234"}, now=NOW
    )
    assert stored["brand"] == "amex"


DECLINES = {n: outcome for n, (_, outcome) in TEST_CARDS.items() if outcome != "approved"}


@pytest.mark.parametrize(("number", "outcome"), sorted(DECLINES.items()))
def test_each_declining_test_card_fails_its_charge_with_its_code(number, outcome):
    source = SandboxCard()
    stored = source.validate_instrument({**CARD, "number": number}, now=NOW)
    result = source.charge(stored, 5000, "USD", "key", now=NOW)
    assert result.status is PaymentStatus.FAILED
    assert result.failure_code == outcome
    assert result.message


def test_approved_cards_settle_and_a_key_answers_one_reference():
    source = SandboxCard()
    for number, (_, outcome) in TEST_CARDS.items():
        if outcome != "approved":
            continue
        cvc = "1234" if number.startswith("37") else "123"
        stored = source.validate_instrument({**CARD, "number": number, "cvc": cvc}, now=NOW)
        first = source.charge(stored, 5000, "USD", "key", now=NOW)
        assert first.status is PaymentStatus.SETTLED
        assert source.charge(stored, 5000, "USD", "key", now=NOW) == first


def test_card_with_an_unknown_token_is_refused_at_charge():
    result = SandboxCard().charge(
        {"token": "tok_forged", "exp_month": "12", "exp_year": "2030"}, 100, "USD", "k", now=NOW
    )
    assert result.failure_code == "invalid_token"


# ------------------------------------------------------------------------ credit line


def test_credit_line_limit():
    source = PostageCreditLine()
    stored = source.validate_instrument({"limit": "5000.00", "currency": "USD"}, now=NOW)
    assert stored == {"limit_mills": "5000000", "currency": "USD"}
    assert not source.self_service
    assert (
        source.charge(stored, 6_000_000, "USD", "k", now=NOW).failure_code
        == "credit_limit_exceeded"
    )
    assert source.charge(stored, 1_000, "USD", "k", now=NOW).status is PaymentStatus.SETTLED


@pytest.mark.parametrize("limit", ["0", "-5", "abc", "1.0001", "2000000", ""])
def test_credit_line_refuses_bad_limits(limit):
    assert code_of(PostageCreditLine(), {"limit": limit, "currency": "USD"}) in (
        "invalid_limit",
        "missing_field",
    )


# --------------------------------------------------------------------------- refunds


def test_a_card_refund_references_the_original_charge():
    card = SandboxCard()
    stored = card.validate_instrument(CARD, now=NOW)
    charge = card.charge(stored, 10_000, "USD", "pm-1", now=NOW)
    refund = card.refund(stored, charge.reference, 4_000, "USD", "po-1", now=NOW)
    assert refund.status is PaymentStatus.SETTLED
    assert refund == card.refund(stored, charge.reference, 4_000, "USD", "po-1", now=NOW)
    other = card.charge(stored, 10_000, "USD", "pm-2", now=NOW)
    assert card.refund(stored, other.reference, 4_000, "USD", "po-1", now=NOW).reference != (
        refund.reference
    )


@pytest.mark.parametrize(
    ("charge_ref", "amount", "token", "code"),
    [
        ("sdd_0123456789abcdef01234567", 1_000, None, "charge_not_found"),
        ("ch_123", 1_000, None, "charge_not_found"),
        (None, 0, None, "invalid_amount"),
        (None, 1_000, "tok_unknown", "invalid_token"),
    ],
)
def test_a_card_refund_is_refused_like_a_gateway_would(charge_ref, amount, token, code):
    card = SandboxCard()
    stored = dict(card.validate_instrument(CARD, now=NOW))
    reference = charge_ref or card.charge(stored, 10_000, "USD", "pm-1", now=NOW).reference
    if token:
        stored["token"] = token
    refund = card.refund(stored, reference, amount, "USD", "po-1", now=NOW)
    assert refund.status is PaymentStatus.FAILED
    assert refund.failure_code == code


def test_a_sepa_refund_is_a_credit_transfer_to_the_debtor():
    sepa = SepaDirectDebit()
    stored = sepa.validate_instrument(SEPA, now=NOW)
    collection = sepa.charge(stored, 50_000, "EUR", "pm-1", now=NOW)
    credit = sepa.refund(stored, collection.reference, 20_000, "EUR", "po-1", now=NOW)
    assert credit.status is PaymentStatus.PENDING
    assert credit.reference.startswith("sct_")
    assert sepa.refund(
        stored, collection.reference, 20_000, "USD", "po-1", now=NOW
    ).failure_code == ("currency_not_supported")
    assert sepa.refund(stored, "ch_x", 20_000, "EUR", "po-1", now=NOW).failure_code == (
        "payment_not_found"
    )
    broken = {**stored, "iban": "DE00370400440532013000"}
    assert sepa.refund(
        broken, collection.reference, 20_000, "EUR", "po-1", now=NOW
    ).failure_code == ("invalid_iban")


def test_an_ach_refund_is_a_credit_entry_to_the_debited_account():
    ach = AchDebit()
    stored = ach.validate_instrument(ACH, now=NOW)
    debit = ach.charge(stored, 50_000, "USD", "pm-1", now=NOW)
    credit = ach.refund(stored, debit.reference, 50_000, "USD", "po-1", now=NOW)
    assert credit.status is PaymentStatus.PENDING
    assert ach.refund(stored, "sdd_x", 50_000, "USD", "po-1", now=NOW).failure_code == (
        "payment_not_found"
    )
