"""``ach-debit``: US ACH debits (PPD/CCD) from a checking or savings account.

The routing number is an ABA routing transit number whose ninth digit is the
check digit (weights 3, 7, 1), checked with python-stdnum. A debit is submitted
(``pending``) and may come back later with a NACHA return code (R01 insufficient
funds...), recorded with ``postroom vault payment-return``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.us import rtn

from postroom.core.errors import ValidationError
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import PaymentResult, PaymentSource, PaymentStatus
from postroom.plugins.payments.common import field, holder, mask, reference

ACCOUNT_TYPES = ("checking", "savings")
#: What this source's debits answer as their reference (``charge``).
DEBIT_REFERENCE = re.compile(r"ach_[0-9a-f]{24}")

#: NACHA return reason codes of a debit entry (the common ones).
RETURN_CODES: dict[str, str] = {
    "R01": "insufficient funds",
    "R02": "account closed",
    "R03": "no account / unable to locate account",
    "R04": "invalid account number",
    "R05": "unauthorized debit to consumer account using corporate SEC code",
    "R07": "authorization revoked by customer",
    "R08": "payment stopped",
    "R09": "uncollected funds",
    "R10": "customer advises not authorized",
    "R16": "account frozen",
    "R20": "non-transaction account",
    "R29": "corporate customer advises not authorized",
}


class AchDebit:
    code = "ach-debit"
    name = "US ACH debit"
    kind = "bank_debit"
    currencies = ("USD",)
    self_service = True
    return_codes = RETURN_CODES
    settlement_days = 3  # standard ACH settles in 1-2 banking days
    sandbox = False

    def validate_instrument(
        self, instrument: Mapping[str, str], *, now: datetime
    ) -> Mapping[str, str]:
        routing = field(instrument, "routing_number").replace(" ", "").replace("-", "")
        if not (routing.isascii() and routing.isdigit() and len(routing) == 9):
            raise ValidationError("routing_number is 9 digits", code="invalid_routing_number")
        try:
            rtn.validate(routing)
        except StdnumError:
            raise ValidationError(
                f"routing number {routing} fails its check digit",
                code="invalid_routing_number",
            ) from None
        account = field(instrument, "account_number").replace(" ", "").replace("-", "")
        if not (account.isascii() and account.isdigit() and 4 <= len(account) <= 17):
            raise ValidationError("account_number is 4 to 17 digits", code="invalid_account_number")
        kind = field(instrument, "account_type").lower()
        if kind not in ACCOUNT_TYPES:
            raise ValidationError(
                "account_type is checking or savings", code="invalid_account_type"
            )
        return {
            "routing_number": routing,
            "account_number": account,
            "account_type": kind,
            "account_holder": holder(instrument),
        }

    def describe(self, instrument: Mapping[str, str]) -> str:
        return (
            f"ACH {instrument.get('account_type', '')} {mask(instrument.get('account_number', ''))}"
            f" (routing {instrument.get('routing_number', '')})"
        )

    def authorize(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        return PaymentResult(reference("ach-auth", idempotency_key), PaymentStatus.SETTLED)

    def charge(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        if currency != "USD":
            return PaymentResult(
                reference("ach", idempotency_key),
                PaymentStatus.FAILED,
                "currency_not_supported",
                "ACH collects US dollars only",
            )
        return PaymentResult(reference("ach", idempotency_key), PaymentStatus.PENDING)

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
        """An ACH credit entry to the debited account, quoting the debit it gives back:
        submitted (``pending``), settled by the banks later."""
        ref = reference("ach-credit", idempotency_key, payment_reference)
        if currency != "USD":
            return PaymentResult(
                ref, PaymentStatus.FAILED, "currency_not_supported", "ACH moves US dollars only"
            )
        if not DEBIT_REFERENCE.fullmatch(payment_reference):
            return PaymentResult(
                ref, PaymentStatus.FAILED, "payment_not_found", "no such ACH debit"
            )
        if amount_mills <= 0:
            return PaymentResult(
                ref, PaymentStatus.FAILED, "invalid_amount", "a credit entry is above zero"
            )
        if not (instrument.get("routing_number") and instrument.get("account_number")):
            return PaymentResult(
                ref, PaymentStatus.FAILED, "invalid_account_number", "no account to credit"
            )
        return PaymentResult(ref, PaymentStatus.PENDING)


@hookimpl
def register_payment_sources() -> list[PaymentSource]:
    return [AchDebit()]
