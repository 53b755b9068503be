"""``postage-credit-line``: the postage line of credit, the default way to pay for
metered postage. The data center grants a limit (customers cannot add one
themselves); each deposit from it is a *draw* that postroom books against the
customer's credit-line ledger account, whose balance may fall to minus the limit and
no further (the vault's balance rule enforces it). A monthly statement asks for at
least the minimum due.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from postroom.core.errors import ValidationError
from postroom.core.hookspecs import hookimpl
from postroom.core.money import Money
from postroom.core.ports import PaymentResult, PaymentSource, PaymentStatus
from postroom.plugins.payments.common import field, reference

#: The largest line the built-in source grants: 1,000,000 units of the currency.
MAX_LIMIT_UNITS = 1_000_000


class PostageCreditLine:
    code = "postage-credit-line"
    name = "Postage line of credit"
    kind = "credit_line"
    currencies: tuple[str, ...] = ()
    self_service = False
    return_codes: dict[str, str] = {}
    settlement_days = 0
    sandbox = False

    def validate_instrument(
        self, instrument: Mapping[str, str], *, now: datetime
    ) -> Mapping[str, str]:
        currency = field(instrument, "currency")
        text = field(instrument, "limit")
        try:
            limit = Money.of(text, currency)
        except ValidationError:
            raise ValidationError(
                "limit is a decimal amount such as 5000.00", code="invalid_limit"
            ) from None
        if limit.mills <= 0 or limit.mills > MAX_LIMIT_UNITS * 1000:
            raise ValidationError(
                f"limit is above zero and at most {MAX_LIMIT_UNITS} {limit.currency}",
                code="invalid_limit",
            )
        return {"limit_mills": str(limit.mills), "currency": limit.currency}

    def describe(self, instrument: Mapping[str, str]) -> str:
        try:
            limit = Money(int(instrument.get("limit_mills", "0")), instrument.get("currency", ""))
        except ValidationError:
            return "Postage line of credit"
        return f"Postage line of credit, limit {limit}"

    def authorize(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        return self.charge(instrument, amount_mills, currency, idempotency_key, now=now)

    def charge(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        ref = reference("pcl", idempotency_key)
        if currency != instrument.get("currency"):
            return PaymentResult(
                ref,
                PaymentStatus.FAILED,
                "currency_not_supported",
                "the line is in another currency",
            )
        if amount_mills > int(instrument.get("limit_mills", "0")):
            return PaymentResult(
                ref, PaymentStatus.FAILED, "credit_limit_exceeded", "the draw exceeds the limit"
            )
        # The draw settles at once; postroom's ledger holds the line's balance.
        return PaymentResult(ref, PaymentStatus.SETTLED)

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
        """Give a draw back to the line. postroom books credit lines in its own ledger
        and never pays a draw out through here (payouts skip credit-line payments)."""
        ref = reference("pcl-credit", idempotency_key, payment_reference)
        if currency != instrument.get("currency"):
            return PaymentResult(
                ref,
                PaymentStatus.FAILED,
                "currency_not_supported",
                "the line is in another currency",
            )
        return PaymentResult(ref, PaymentStatus.SETTLED)


@hookimpl
def register_payment_sources() -> list[PaymentSource]:
    return [PostageCreditLine()]
