"""Direct-debit mandates: values and pure rules, no I/O.

A customer signs a mandate in the portal (a SEPA Core mandate for a euro account, an
ACH debit authorization for a US-dollar one); the bank account itself is a payment
instrument of the funding area's vault, and billing keeps the signed mandate: its
reference, who signed it and when, the creditor, and the account as masked text only.
A revoked mandate stays on record (the bank may ask for it for 14 months).
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from enum import StrEnum

import attrs

from postroom.core.errors import Conflict, NotFound, ValidationError

#: A mandate reference (SEPA AT-01): at most 35 characters of the SEPA character set;
#: ours are upper-case letters, digits and hyphens (``PR-<customer>-<YYYYMMDD>-<hex>``).
MANDATE_REFERENCE = re.compile(r"PR-[0-9A-Z]{1,12}-[0-9]{8}-[0-9A-F]{8}")
MAX_MANDATE_REFERENCE = 35
#: Each debit's amount and date are announced (the invoice) at least this many days
#: before the debit: the mandate says so and the automatic debit waits for it.
PRE_NOTIFICATION_DAYS = 5
MAX_HOLDER = 70  # SEPA's name field (AT-14) is 70 characters


class DebitScheme(StrEnum):
    SEPA = "sepa"  # SEPA Direct Debit Core, euro accounts
    ACH = "ach"  # US ACH debit (PPD/CCD), US-dollar accounts


#: The scheme a currency's accounts are debited through, and the vault's payment
#: source that keeps the bank account. Canadian dollars (PAD) have no source yet.
SCHEMES: dict[str, tuple[DebitScheme, str]] = {
    "EUR": (DebitScheme.SEPA, "sepa-debit"),
    "USD": (DebitScheme.ACH, "ach-debit"),
}
ACCOUNT_TYPES = ("checking", "savings")


def scheme_for(currency: str) -> tuple[DebitScheme, str]:
    """The scheme and payment source of an account in ``currency``, or
    ``debit_not_offered``."""
    found = SCHEMES.get(currency)
    if found is None:
        raise Conflict(
            f"direct debit is not offered for {currency} accounts", code="debit_not_offered"
        )
    return found


def debit_announced(issued_on: date, day: date) -> bool:
    """Whether an invoice issued on ``issued_on`` announced its debit long enough
    before ``day`` (the pre-notification the mandate promises)."""
    return (day - issued_on).days >= PRE_NOTIFICATION_DAYS


def new_mandate_reference(customer_number: str, day: date) -> str:
    """A fresh mandate reference: the customer, the signature day and 32 random bits
    (unique per customer is checked against the stored ones by the caller)."""
    customer = re.sub(r"[^0-9A-Z]", "", customer_number.upper())[:12] or "0"
    reference = f"PR-{customer}-{day:%Y%m%d}-{secrets.token_hex(4).upper()}"
    return reference


def parse_mandate_reference(text: object) -> str:
    clean = text.strip().upper() if isinstance(text, str) else ""
    if not MANDATE_REFERENCE.fullmatch(clean):
        raise NotFound(f"no mandate {text!r}", code="mandate_not_found")
    return clean


def parse_holder(text: object) -> str:
    """The account holder's name as the bank knows it: 1 to 70 printable characters."""
    clean = " ".join(text.split()) if isinstance(text, str) else ""
    if not clean:
        raise ValidationError(
            "the account holder is required", code="missing_field", field="account_holder"
        )
    if len(clean) > MAX_HOLDER or not clean.isprintable():
        raise ValidationError(
            f"the account holder is 1 to {MAX_HOLDER} printable characters",
            code="invalid_field",
            field="account_holder",
        )
    return clean


def check_consent(consent: object) -> None:
    if consent is not True:
        raise ValidationError(
            "the mandate needs the account holder's consent", code="consent_required"
        )


def masked_iban(iban: str) -> str:
    """``FR76 **** **** **** **** ***0 189``: the country, check digits and last four."""
    compact = iban.replace(" ", "").upper()
    hidden = compact[:4] + "*" * (len(compact) - 8) + compact[-4:]
    return " ".join(hidden[i : i + 4] for i in range(0, len(hidden), 4))


def masked_account(number: str) -> str:
    """``****6789``: an ACH account number's last four digits."""
    return "****" + number[-4:]


@attrs.frozen
class DebitMandate:
    """A signed mandate (SEPA) or authorization (ACH) and the instrument it debits."""

    reference: str
    customer_number: str
    scheme: DebitScheme
    instrument_id: str
    account_holder: str
    #: the account as shown everywhere after signing: a masked IBAN or account number
    account: str
    #: the BIC (SEPA, may be empty) or the routing number (ACH)
    bank: str
    #: ACH: checking or savings; SEPA: empty
    account_type: str
    creditor_name: str
    #: the SEPA creditor identifier (AT-02); ACH: empty
    creditor_id: str
    language: str
    signed_at: datetime
    signed_by: str
    revoked_at: datetime | None = None
    revoked_by: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def signed_on(self) -> date:
        return self.signed_at.date()


def owned(found: DebitMandate | None, customer_number: str, asked: object) -> DebitMandate:
    """The customer's mandate; another customer's answers as none (``mandate_not_found``)."""
    if found is None or found.customer_number != customer_number:
        raise NotFound(f"no mandate {asked!r}", code="mandate_not_found")
    return found
