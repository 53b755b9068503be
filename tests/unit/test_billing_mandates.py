"""Direct-debit mandates on in-memory fakes (no I/O): the mandate reference, masking,
the scheme of each currency, consent, and that a refused bank account or a missing
creditor identifier writes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from billing_fakes import (
    FakeAccounts,
    FakeBankAccounts,
    FakeBilling,
    FakeContracts,
    FakeDatabase,
    FakeInstallationNumbers,
    FakeMessages,
    FakePayments,
    FakeStatements,
    account,
)

from postroom.core.billing import mandate as rules
from postroom.core.billing.mandate import DebitScheme
from postroom.core.billing.mandate_document import mandate_text
from postroom.core.billing.model import Party
from postroom.core.billing.service import BillingService
from postroom.core.billing.settings import BillingSettings
from postroom.core.billing.taxes import TaxTable
from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, ValidationError

PARIS = "3000000007"
NEW_YORK = "1000000009"
TORONTO = "4000000006"
#: the SEPA character set, as the EPC rulebook allows it in a mandate reference
SEPA_CHARSET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-?:().,'+ ")


def test_a_mandate_reference_is_short_of_the_sepa_charset_and_unique() -> None:
    seen = {rules.new_mandate_reference(PARIS, date(2026, 3, 2)) for _ in range(200)}
    assert len(seen) == 200
    for reference in seen:
        assert len(reference) <= 35
        assert set(reference) <= SEPA_CHARSET
        assert reference.startswith(f"PR-{PARIS}-20260302-")
        assert rules.parse_mandate_reference(reference.lower()) == reference


def test_accounts_are_masked_to_their_last_four() -> None:
    assert rules.masked_iban("FR1420041010050500013M02606") == "FR14 **** **** **** **** ***2 606"
    assert rules.masked_account("000123456789") == "****6789"


def test_each_currency_has_its_scheme_and_canada_is_not_offered() -> None:
    assert rules.scheme_for("EUR") == (DebitScheme.SEPA, "sepa-debit")
    assert rules.scheme_for("USD") == (DebitScheme.ACH, "ach-debit")
    with pytest.raises(Conflict) as refused:
        rules.scheme_for("CAD")
    assert refused.value.code == "debit_not_offered"


def test_the_mandate_text_is_written_in_both_languages() -> None:
    english = " ".join(mandate_text(DebitScheme.SEPA, "en", "Seller SA", "FR72ZZZ123456"))
    french = " ".join(mandate_text(DebitScheme.SEPA, "fr", "Seller SA", "FR72ZZZ123456"))
    assert "refund" in english
    assert "8 weeks" in english
    assert "FR72ZZZ123456" in english
    assert "remboursé" in french
    assert "8 semaines" in french
    assert "revoke" in " ".join(mandate_text(DebitScheme.ACH, "en", "Seller SA"))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


def _billing(db: FakeDatabase, clock: FrozenClock, creditor_id: str) -> BillingService:
    accounts = FakeAccounts()
    accounts.add(account(PARIS, "FR", "EUR"))
    accounts.add(account(NEW_YORK))
    accounts.add(account(TORONTO, "CA", "CAD"))
    return BillingService(
        db,
        clock,
        BillingSettings(
            Party("Seller SA", ("1 rue de la Paix",)), TaxTable.default(), creditor_id=creditor_id
        ),
        accounts=accounts,
        messages=FakeMessages(db),
        payments=FakePayments(clock),
        contracts=FakeContracts(),
        meters=FakeInstallationNumbers({}),
        statements=FakeStatements(),
        bank_accounts=FakeBankAccounts(db, clock),
        repository=lambda session: FakeBilling(db),
    )


SEPA = {"account_holder": "Café Étoile", "iban": "FR1420041010050500013M02606"}


def test_signing_stores_the_mandate_its_account_and_the_automatic_debit_together(db, clock):
    billing = _billing(db, clock, "FR72ZZZ123456")
    mandate = billing.set_up_debit(
        PARIS, SEPA, consent=True, signed_by="olive@etoile.example", auto_debit=True
    )
    instrument = db.state.bank_accounts[mandate.instrument_id]
    assert instrument.details["mandate_reference"] == mandate.reference
    assert instrument.details["signature_date"] == "2026-03-02"
    assert instrument.details["creditor_id"] == "FR72ZZZ123456"
    assert billing.profile(PARIS).auto_debit_instrument == instrument.id
    (message,) = db.state.messages
    assert message["kind"] == "billing.mandate-signed"
    assert message["attachments"][0].filename == f"mandate-{mandate.reference}.pdf"
    assert billing.mandate(PARIS, mandate.reference) == mandate
    with pytest.raises(NotFound):
        billing.mandate(NEW_YORK, mandate.reference)  # another account's

    revoked = billing.revoke_mandate(PARIS, mandate.reference, revoked_by="olive@etoile.example")
    assert not revoked.active
    assert billing.profile(PARIS).auto_debit_instrument is None
    assert db.state.bank_accounts[instrument.id].status == "removed"
    again = billing.revoke_mandate(PARIS, mandate.reference, revoked_by="someone else")
    assert again.revoked_by == "olive@etoile.example"  # revoked once


@pytest.mark.parametrize(
    ("number", "fields", "consent", "code"),
    [
        (PARIS, {**SEPA, "iban": "FR1420041010050500013M02600"}, True, "invalid_iban"),
        (PARIS, SEPA, False, "consent_required"),
        (PARIS, {**SEPA, "account_holder": " "}, True, "missing_field"),
        (
            NEW_YORK,
            {
                "account_holder": "Acme",
                "routing_number": "111000020",
                "account_number": "1234",
                "account_type": "checking",
            },
            True,
            "invalid_routing_number",
        ),
    ],
)
def test_a_refused_mandate_writes_nothing(db, clock, number, fields, consent, code):
    billing = _billing(db, clock, "FR72ZZZ123456")
    with pytest.raises(ValidationError) as refused:
        billing.set_up_debit(
            number, fields, consent=consent, signed_by="a@b.example", auto_debit=True
        )
    assert refused.value.code == code
    assert db.state.mandates == {}
    assert db.state.bank_accounts == {}
    assert db.state.messages == []
    assert billing.profile(number).auto_debit_instrument is None


def test_sepa_without_a_creditor_identifier_and_canada_are_not_offered(db, clock):
    billing = _billing(db, clock, "")
    assert billing.debit_offer(PARIS).scheme is None
    assert billing.debit_offer(NEW_YORK).scheme is DebitScheme.ACH
    assert billing.debit_offer(TORONTO).scheme is None
    for number in (PARIS, TORONTO):
        with pytest.raises(Conflict) as refused:
            billing.set_up_debit(number, SEPA, consent=True, signed_by="a@b.example")
        assert refused.value.code == "debit_not_offered"
    assert db.state.mandates == {}
