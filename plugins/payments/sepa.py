"""``sepa-debit``: SEPA Direct Debit (Core) under a signed mandate.

The instrument is the debtor's IBAN (and optional BIC, checked with schwifty), the
mandate reference and signature date, and the creditor identifier (AT-02) under which
the data center collects. A debit is *submitted* (``pending``): the debtor's bank can
still return it later with an ISO 20022 reason code (an R-transaction), which postroom
records with ``postroom vault payment-return``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.eu import at_02
from stdnum.exceptions import ValidationError as StdnumError

from postroom.core.errors import ValidationError
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import PaymentResult, PaymentSource, PaymentStatus
from postroom.plugins.payments.common import field, holder, mask, reference

#: Mandate reference (AT-01): up to 35 characters of the SEPA character set.
MANDATE_REFERENCE = re.compile(r"[A-Za-z0-9+?/:().,' -]{1,35}")
#: What this source's collections answer as their reference (``charge``).
COLLECTION_REFERENCE = re.compile(r"sdd_[0-9a-f]{24}")

#: R-transaction reason codes a returned SEPA debit carries (EPC SDD Core rulebook).
RETURN_CODES: dict[str, str] = {
    "AC01": "account identifier incorrect (invalid IBAN)",
    "AC04": "account closed",
    "AC06": "account blocked for direct debit",
    "AG01": "direct debit forbidden on this account",
    "AM04": "insufficient funds",
    "AM05": "duplicate collection",
    "MD01": "no valid mandate",
    "MD06": "refund requested by the debtor",
    "MD07": "debtor deceased",
    "MS02": "refused by the debtor",
    "MS03": "reason not specified",
    "RC01": "BIC incorrect",
    "SL01": "specific service offered by the debtor's bank",
}


def _iban(text: str) -> IBAN:
    try:
        iban = IBAN(text)
    except SchwiftyException as error:
        raise ValidationError(f"invalid IBAN: {error}", code="invalid_iban") from None
    if not iban.in_sepa_zone:
        raise ValidationError(
            f"IBANs of {iban.country_code} cannot be debited through SEPA",
            code="iban_not_in_sepa",
        )
    return iban


def _bic(text: str, iban: IBAN) -> BIC | None:
    if not text:
        return None
    try:
        bic = BIC(text)
    except SchwiftyException as error:
        raise ValidationError(f"invalid BIC: {error}", code="invalid_bic") from None
    if bic.country_code != iban.country_code:
        raise ValidationError(
            f"BIC {bic} is of {bic.country_code} but the IBAN of {iban.country_code}",
            code="bic_mismatch",
        )
    known = iban.bic
    if known is not None and str(known)[:8] != str(bic)[:8]:
        raise ValidationError(
            f"BIC {bic} is not the bank of this IBAN ({known})", code="bic_mismatch"
        )
    return bic


def _signature_date(text: str, now: datetime) -> date:
    try:
        signed = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "signature_date is YYYY-MM-DD", code="invalid_signature_date"
        ) from None
    if len(text) != 10:
        raise ValidationError("signature_date is YYYY-MM-DD", code="invalid_signature_date")
    if signed > now.date():
        raise ValidationError(
            "a mandate cannot be signed in the future", code="mandate_signed_in_future"
        )
    return signed


class SepaDirectDebit:
    code = "sepa-debit"
    name = "SEPA Direct Debit"
    kind = "bank_debit"
    currencies = ("EUR",)
    self_service = True
    return_codes = RETURN_CODES
    settlement_days = 2  # SEPA Core settles D+1; one day of margin
    sandbox = False

    def validate_instrument(
        self, instrument: Mapping[str, str], *, now: datetime
    ) -> Mapping[str, str]:
        iban = _iban(field(instrument, "iban"))
        # not given: the bank's BIC from schwifty's registry when it knows the IBAN's bank
        bic = _bic(field(instrument, "bic", required=False).upper(), iban) or iban.bic
        mandate = field(instrument, "mandate_reference")
        if not MANDATE_REFERENCE.fullmatch(mandate):
            raise ValidationError(
                "mandate_reference is 1 to 35 letters, digits or + ? / : ( ) . , ' - and spaces",
                code="invalid_mandate_reference",
            )
        signed = _signature_date(field(instrument, "signature_date"), now)
        try:
            creditor = at_02.validate(field(instrument, "creditor_id"))
        except StdnumError:
            raise ValidationError(
                "creditor_id is not a valid SEPA creditor identifier (AT-02)",
                code="invalid_creditor_id",
            ) from None
        return {
            "iban": str(iban.compact),
            "bic": "" if bic is None else str(bic),
            "mandate_reference": mandate,
            "signature_date": signed.isoformat(),
            "creditor_id": creditor,
            "account_holder": holder(instrument),
        }

    def describe(self, instrument: Mapping[str, str]) -> str:
        iban = instrument.get("iban", "")
        return f"SEPA {iban[:4]} {mask(iban)} (mandate {instrument.get('mandate_reference', '')})"

    def authorize(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        # A direct debit has no authorization: the mandate is the debtor's consent.
        return PaymentResult(reference("sdd-auth", idempotency_key), PaymentStatus.SETTLED)

    def charge(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        if currency != "EUR":
            return PaymentResult(
                reference("sdd", idempotency_key),
                PaymentStatus.FAILED,
                "currency_not_supported",
                "SEPA Direct Debit collects euros only",
            )
        return PaymentResult(
            reference("sdd", idempotency_key, instrument.get("mandate_reference", "")),
            PaymentStatus.PENDING,
        )

    def refund(
        self,
        instrument: Mapping[str, str],
        payment_reference: str,
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        """A SEPA Credit Transfer of the amount to the debtor's IBAN, quoting the
        collection it gives back: submitted (``pending``), settled by the banks later."""
        ref = reference("sct", idempotency_key, payment_reference)
        if currency != "EUR":
            return PaymentResult(
                ref,
                PaymentStatus.FAILED,
                "currency_not_supported",
                "SEPA Credit Transfer moves euros only",
            )
        if not COLLECTION_REFERENCE.fullmatch(payment_reference):
            return PaymentResult(
                ref, PaymentStatus.FAILED, "payment_not_found", "no such SEPA collection"
            )
        if amount_mills <= 0:
            return PaymentResult(
                ref, PaymentStatus.FAILED, "invalid_amount", "a credit transfer is above zero"
            )
        try:
            _iban(instrument.get("iban", ""))
        except ValidationError as error:
            return PaymentResult(ref, PaymentStatus.FAILED, error.code, error.message)
        return PaymentResult(ref, PaymentStatus.PENDING)


@hookimpl
def register_payment_sources() -> list[PaymentSource]:
    return [SepaDirectDebit()]
