"""Direct debit set up by the customer (``pr.billing.set_up_debit``): a signed SEPA
mandate or ACH authorization, the bank account it debits, and revoking it.

Signing is one transaction: the bank account is validated by its payment source and
stored in the vault (``BankAccounts.add_instrument_in``), the mandate recorded with its
generated reference, the automatic debit switched to it if asked, and the confirmation
email (the mandate's PDF attached) written; a refused IBAN or routing number leaves
nothing behind. Revoking turns automatic debit off if it used the mandate, removes the
instrument from the vault and keeps the mandate on record, revoked.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import date

import attrs

from postroom.core.billing import mandate as rules
from postroom.core.billing import messages, model
from postroom.core.billing.mandate import DebitMandate, DebitScheme
from postroom.core.billing.mandate_document import mandate_pdf
from postroom.core.billing.ports import (
    BankAccounts,
    CustomerAccounts,
    CustomerMessages,
    Session,
    Transactions,
)
from postroom.core.billing.settings import BillingSettings
from postroom.core.billing.store import BillingRepository
from postroom.core.clock import Clock
from postroom.core.errors import Conflict, ValidationError

#: How many fresh references are tried before giving up (32 random bits each).
REFERENCE_TRIES = 5


@attrs.frozen
class DebitOffer:
    """What the portal offers an account: its scheme and payment source, or why none
    (``debit_not_offered``: a currency without a scheme, or SEPA without a creditor
    identifier configured)."""

    scheme: DebitScheme | None
    source: str | None
    currency: str
    creditor_name: str
    creditor_id: str
    reason: str = ""


class Mandates:
    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        repository: Callable[[Session], BillingRepository],
        settings: BillingSettings,
        *,
        accounts: CustomerAccounts,
        bank_accounts: BankAccounts | None,
        outbox: CustomerMessages,
    ) -> None:
        self._db = db
        self._clock = clock
        self._repository = repository
        self._settings = settings
        self._accounts = accounts
        self._bank_accounts = bank_accounts
        self._outbox = outbox

    def offer(self, customer_number: str) -> DebitOffer:
        account = self._accounts.get(customer_number)
        creditor = self._settings.seller.name
        try:
            self._check_offered(account.currency)
        except Conflict as error:
            return DebitOffer(None, None, account.currency, creditor, "", error.message)
        scheme, source = rules.scheme_for(account.currency)
        return DebitOffer(scheme, source, account.currency, creditor, self._settings.creditor_id)

    def _check_offered(self, currency: str) -> tuple[DebitScheme, str]:
        scheme, source = rules.scheme_for(currency)
        if self._bank_accounts is None:
            raise Conflict("direct debit is not offered here", code="debit_not_offered")
        if scheme is DebitScheme.SEPA and not self._settings.creditor_id:
            raise Conflict(
                "SEPA direct debit is not offered: no creditor identifier is configured",
                code="debit_not_offered",
            )
        return scheme, source

    def set_up_debit(
        self,
        customer_number: str,
        fields: Mapping[str, str],
        *,
        consent: bool,
        signed_by: str,
        auto_debit: bool = False,
    ) -> DebitMandate:
        """Sign a mandate for the bank account in ``fields`` (SEPA: ``iban``, ``bic``
        optional; ACH: ``routing_number``, ``account_number``, ``account_type``; both:
        ``account_holder``) with the holder's explicit ``consent``; ``signed_by`` is who
        signed (the portal user's email). ``auto_debit``: debit the invoices from it."""
        account = self._accounts.get(customer_number)
        scheme, source = self._check_offered(account.currency)
        rules.check_consent(consent)
        if not isinstance(fields, Mapping):
            raise ValidationError("bank account fields are text", code="invalid_instrument")
        holder = rules.parse_holder(fields.get("account_holder"))
        signer = signed_by.strip() if isinstance(signed_by, str) else ""
        if not 1 <= len(signer) <= 320 or not signer.isprintable():
            raise ValidationError("who signs is 1 to 320 characters", code="invalid_signer")
        now = self._clock.now()
        bank_accounts = self._bank_accounts
        assert bank_accounts is not None  # _check_offered

        def work(uow: Session) -> tuple[DebitMandate, builtins.list[str]]:
            repository = self._repository(uow)
            profile = repository.profile(account.number) or model.default_profile(
                account.number, account.country
            )
            reference = self._fresh_reference(repository, account.number, now.date())
            if scheme is DebitScheme.SEPA:
                given = {
                    "account_holder": holder,
                    "iban": _text(fields, "iban"),
                    "bic": _text(fields, "bic"),
                    "mandate_reference": reference,
                    "signature_date": now.date().isoformat(),
                    "creditor_id": self._settings.creditor_id,
                }
            else:
                given = {
                    "account_holder": holder,
                    "routing_number": _text(fields, "routing_number"),
                    "account_number": _text(fields, "account_number"),
                    "account_type": _text(fields, "account_type"),
                }
            instrument = bank_accounts.add_instrument_in(uow, account.number, source, given)
            kept = instrument.details
            mandate = DebitMandate(
                reference=reference,
                customer_number=account.number,
                scheme=scheme,
                instrument_id=instrument.id,
                account_holder=holder,
                account=(
                    rules.masked_iban(kept["iban"])
                    if scheme is DebitScheme.SEPA
                    else rules.masked_account(kept["account_number"])
                ),
                bank=kept.get("bic", "") if scheme is DebitScheme.SEPA else kept["routing_number"],
                account_type="" if scheme is DebitScheme.SEPA else kept["account_type"],
                creditor_name=self._settings.seller.name,
                creditor_id=kept.get("creditor_id", ""),
                language=profile.language,
                signed_at=now,
                signed_by=signer,
            )
            repository.add_mandate(mandate)
            if auto_debit:
                repository.save_profile(
                    attrs.evolve(profile, auto_debit_instrument=instrument.id), now
                )
            told = messages.write(
                self._outbox,
                uow,
                account.number,
                "billing.mandate-signed",
                messages.mandate_signed(mandate, self._settings.debit_link()),
                {"mandate": mandate.reference, "account": mandate.account},
                profile.language,
                [messages.mandate_attachment(mandate)],
            )
            uow.commit()
            return mandate, [told]

        mandate, told = self._db.run(work)
        self._outbox.deliver(told)
        return mandate

    def _fresh_reference(
        self, repository: BillingRepository, customer_number: str, day: date
    ) -> str:
        for _ in range(REFERENCE_TRIES):
            reference = rules.new_mandate_reference(customer_number, day)
            if repository.mandate(reference) is None:
                return reference
        raise Conflict("no free mandate reference; try again", code="mandate_reference_taken")

    def mandates(self, customer_number: str) -> builtins.list[DebitMandate]:
        """The account's mandates, newest first, revoked ones included."""
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._repository(uow).mandates(account.number), readonly=True
        )

    def mandate(self, customer_number: str, reference: str) -> DebitMandate:
        """The account's mandate; another account's is ``mandate_not_found``."""
        account = self._accounts.get(customer_number)
        clean = rules.parse_mandate_reference(reference)
        found = self._db.run(lambda uow: self._repository(uow).mandate(clean), readonly=True)
        return rules.owned(found, account.number, reference)

    def mandate_pdf(self, customer_number: str, reference: str, language: str) -> bytes:
        return mandate_pdf(self.mandate(customer_number, reference), language)

    def revoke(self, customer_number: str, reference: str, *, revoked_by: str) -> DebitMandate:
        """Revoke the mandate: automatic debit off if it used it, its bank account
        removed from the vault, the mandate kept (revoked). Revoked already: unchanged."""
        account = self._accounts.get(customer_number)
        clean = rules.parse_mandate_reference(reference)
        by = revoked_by.strip()[:320] if isinstance(revoked_by, str) else ""
        now = self._clock.now()
        bank_accounts = self._bank_accounts

        def work(uow: Session) -> tuple[DebitMandate, builtins.list[str]]:
            repository = self._repository(uow)
            mandate = rules.owned(repository.mandate(clean), account.number, reference)
            if not mandate.active:
                return mandate, []
            profile = repository.profile(account.number) or model.default_profile(
                account.number, account.country
            )
            if profile.auto_debit_instrument == mandate.instrument_id:
                repository.save_profile(attrs.evolve(profile, auto_debit_instrument=None), now)
            if bank_accounts is not None:
                bank_accounts.remove_instrument_in(uow, account.number, mandate.instrument_id)
            repository.revoke_mandate(mandate.reference, now, by)
            revoked = attrs.evolve(mandate, revoked_at=now, revoked_by=by)
            told = messages.write(
                self._outbox,
                uow,
                account.number,
                "billing.mandate-revoked",
                messages.mandate_revoked(revoked, self._settings.debit_link()),
                {"mandate": mandate.reference},
                profile.language,
            )
            uow.commit()
            return revoked, [told]

        revoked, told = self._db.run(work)
        self._outbox.deliver(told)
        return revoked


def _text(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    return value if isinstance(value, str) else ""
