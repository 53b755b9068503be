"""``sandbox-card``: a card gateway sandbox that behaves like a real one for the
documented test card numbers (Stripe's public test set), and nothing else.

Validation: digits, the Luhn check, a known test number, the expiry month against
postroom's clock, the CVC length of the brand (4 for American Express, 3 otherwise).
postroom stores only the brand, the last four digits, the expiry and a gateway
token; never the card number, never the CVC. Charges settle at once or fail with
the card's documented decline code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from stdnum import luhn
from stdnum.exceptions import ValidationError as StdnumError

from postroom.core.errors import ValidationError
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import PaymentResult, PaymentSource, PaymentStatus
from postroom.plugins.payments.common import field, reference

APPROVED = "approved"
#: What this gateway's charges answer as their reference (``_answer("ch", ...)``).
CHARGE_REFERENCE = re.compile(r"ch_[0-9a-f]{24}")

#: Stripe's documented test card numbers: number -> (brand, what a charge does).
TEST_CARDS: dict[str, tuple[str, str]] = {
    "4242424242424242": ("visa", APPROVED),
    "4000056655665556": ("visa", APPROVED),  # Visa debit
    "5555555555554444": ("mastercard", APPROVED),
    "2223003122003222": ("mastercard", APPROVED),  # 2-series
    "5200828282828210": ("mastercard", APPROVED),  # debit
    "378282246310005": ("amex", APPROVED),
    "371449635398431": ("amex", APPROVED),
    "6011111111111117": ("discover", APPROVED),
    "3056930009020004": ("diners", APPROVED),
    "3566002020360505": ("jcb", APPROVED),
    "4000000000000002": ("visa", "card_declined"),
    "4000000000009995": ("visa", "insufficient_funds"),
    "4000000000009987": ("visa", "lost_card"),
    "4000000000009979": ("visa", "stolen_card"),
    "4000000000000069": ("visa", "expired_card"),
    "4000000000000127": ("visa", "incorrect_cvc"),
    "4000000000000119": ("visa", "processing_error"),
}

DECLINE_MESSAGES: dict[str, str] = {
    "card_declined": "the card was declined",
    "insufficient_funds": "the card has insufficient funds",
    "lost_card": "the card was declined (reported lost)",
    "stolen_card": "the card was declined (reported stolen)",
    "expired_card": "the card has expired",
    "incorrect_cvc": "the card's security code is incorrect",
    "processing_error": "the card could not be processed; try again",
    "invalid_token": "the gateway does not know this card",
}

BRAND_NAMES = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
}


def _token(number: str) -> str:
    """The gateway's alias of a test card: brand and last four digits, what postroom keeps
    anyway, so the token reveals nothing more (never a hash of the number)."""
    return f"tok_sandbox_{TEST_CARDS[number][0]}_{number[-4:]}"


#: token -> (brand, what a charge does): what the gateway remembers instead of the number.
TOKENS: dict[str, tuple[str, str]] = {_token(n): found for n, found in TEST_CARDS.items()}
assert len(TOKENS) == len(TEST_CARDS), "two test cards would share a token"


def _number(text: str) -> str:
    number = text.replace(" ", "").replace("-", "")
    if not (number.isascii() and number.isdigit() and 12 <= len(number) <= 19):
        raise ValidationError("a card number is 12 to 19 digits", code="invalid_card_number")
    try:
        luhn.validate(number)
    except StdnumError:
        raise ValidationError(
            "the card number fails its check digit (Luhn)", code="luhn_check_failed"
        ) from None
    if number not in TEST_CARDS:
        raise ValidationError(
            "the sandbox gateway accepts only the documented test card numbers",
            code="not_a_test_card",
        )
    return number


def _expiry(instrument: Mapping[str, str], now: datetime) -> tuple[int, int]:
    month_text = field(instrument, "exp_month")
    year_text = field(instrument, "exp_year")
    if not (month_text.isascii() and month_text.isdigit() and len(month_text) <= 2):
        raise ValidationError("exp_month is 1 to 12", code="invalid_expiry")
    if not (year_text.isascii() and year_text.isdigit() and len(year_text) in (2, 4)):
        raise ValidationError("exp_year is YYYY or YY", code="invalid_expiry")
    month, year = int(month_text), int(year_text)
    if len(year_text) == 2:
        year += 2000
    if not 1 <= month <= 12:
        raise ValidationError("exp_month is 1 to 12", code="invalid_expiry")
    if _expired(month, year, now):
        raise ValidationError(
            f"the card expired at the end of {month:02d}/{year}", code="card_expired"
        )
    return month, year


def _expired(month: int, year: int, now: datetime) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (year, month) < (now.year, now.month)


class SandboxCard:
    code = "sandbox-card"
    name = "Card (sandbox gateway)"
    kind = "card"
    currencies: tuple[str, ...] = ()  # any
    self_service = True
    return_codes: dict[str, str] = {}  # a card charge settles or fails; disputes are not modelled
    settlement_days = 0  # settled or failed at the charge
    sandbox = True  # approves test card numbers: no real money moves

    def validate_instrument(
        self, instrument: Mapping[str, str], *, now: datetime
    ) -> Mapping[str, str]:
        number = _number(field(instrument, "number"))
        brand, _ = TEST_CARDS[number]
        month, year = _expiry(instrument, now)
        cvc = field(instrument, "cvc")
        length = 4 if brand == "amex" else 3
        if not (cvc.isascii() and cvc.isdigit() and len(cvc) == length):
            raise ValidationError(
                f"the security code of a {BRAND_NAMES[brand]} card is {length} digits",
                code="invalid_cvc",
            )
        return {
            "brand": brand,
            "last4": number[-4:],
            "exp_month": f"{month:02d}",
            "exp_year": str(year),
            "token": _token(number),
        }

    def describe(self, instrument: Mapping[str, str]) -> str:
        brand = BRAND_NAMES.get(instrument.get("brand", ""), "Card")
        return (
            f"{brand} ...{instrument.get('last4', '')} "
            f"exp {instrument.get('exp_month', '')}/{instrument.get('exp_year', '')}"
        )

    def _outcome(self, instrument: Mapping[str, str], now: datetime) -> str:
        found = TOKENS.get(instrument.get("token", ""))
        if found is None:
            return "invalid_token"
        try:
            month, year = int(instrument["exp_month"]), int(instrument["exp_year"])
        except (KeyError, ValueError):
            return "invalid_token"
        if _expired(month, year, now):
            return "expired_card"
        return found[1]

    def _answer(
        self, prefix: str, instrument: Mapping[str, str], key: str, now: datetime
    ) -> PaymentResult:
        outcome = self._outcome(instrument, now)
        ref = reference(prefix, key, instrument.get("token", ""))
        if outcome == APPROVED:
            return PaymentResult(ref, PaymentStatus.SETTLED)
        return PaymentResult(ref, PaymentStatus.FAILED, outcome, DECLINE_MESSAGES[outcome])

    def authorize(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        return self._answer("auth", instrument, idempotency_key, now)

    def charge(
        self,
        instrument: Mapping[str, str],
        amount_mills: int,
        currency: str,
        idempotency_key: str,
        *,
        now: datetime,
    ) -> PaymentResult:
        return self._answer("ch", instrument, idempotency_key, now)

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
        """A refund against the original charge, back to the card it was charged to
        (an expired or reported card included: the network routes it to the account)."""
        ref = reference("re", idempotency_key, payment_reference)
        if instrument.get("token", "") not in TOKENS:
            return PaymentResult(
                ref, PaymentStatus.FAILED, "invalid_token", DECLINE_MESSAGES["invalid_token"]
            )
        if not CHARGE_REFERENCE.fullmatch(payment_reference):
            return PaymentResult(
                ref, PaymentStatus.FAILED, "charge_not_found", "the gateway has no such charge"
            )
        if amount_mills <= 0:
            return PaymentResult(
                ref, PaymentStatus.FAILED, "invalid_amount", "a refund is above zero"
            )
        return PaymentResult(ref, PaymentStatus.SETTLED)


@hookimpl
def register_payment_sources() -> list[PaymentSource]:
    return [SandboxCard()]
