"""Money: an exact amount in integer mills (1/1000 of the currency unit) plus an ISO 4217 code.

There is no float anywhere: amounts come in as text, ``int`` or ``Decimal`` and are kept as an
``int`` number of mills. Arithmetic between two currencies is refused, and so is any
arithmetic that could lose a mill (multiplying by a float, dividing); ``allocate`` splits an
amount into parts whose sum is exactly the original.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import attrs
from babel.core import UnknownLocaleError
from babel.numbers import format_currency, list_currencies

from postroom.core.errors import ValidationError

MILLS_PER_UNIT: Final = 1000
MAX_TEXT_LENGTH: Final = 100  # longer "amounts" are refused before any parsing
#: Significant digits an amount may have: far beyond any real sum (the ledger's own limit is
#: lower), far below Python's int/str conversion limit that thousands of digits would hit.
MAX_DIGITS: Final = 30
_MAX_MILLS: Final = 10 ** (MAX_DIGITS + 3)

#: Every ISO 4217 alphabetic code babel knows (current and historic).
KNOWN_CURRENCIES: Final[frozenset[str]] = frozenset(
    code for code in list_currencies() if len(code) == 3 and code.isalpha() and code.isupper()
)

#: Symbols ``Money.parse`` accepts in place of a code; only the unambiguous ones.
CURRENCY_SYMBOLS: Final[dict[str, str]] = {"$": "USD", "€": "EUR", "£": "GBP"}

_CURRENCY = r"[A-Za-z]+|[$€£]"
_PARSE_RE: Final = re.compile(
    rf"""
    (?P<sign1>[+-])?\s*
    (?:(?P<pre>{_CURRENCY})\s*)?
    (?P<sign2>[+-])?\s*
    (?P<number>[0-9](?:[0-9.,']|\s(?=[0-9]))*)  # a space inside only before a digit
    \s*(?P<post>{_CURRENCY})?
    """,
    re.VERBOSE,
)
_PLAIN_DECIMAL_RE: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_AMBIGUOUS_COMMA_RE: Final = re.compile(r"[1-9][0-9]{0,2},[0-9]{3}")
# Characters that only ever group digits (space, no-break spaces, apostrophe as in 1'234.50).
_GROUPING_ONLY: Final = frozenset(" \u00a0\u202f'")


def _check_currency(currency: object) -> str:
    """Normalise a currency code to upper case, refusing anything not in KNOWN_CURRENCIES."""
    if not isinstance(currency, str):
        raise ValidationError(
            "currency must be an ISO 4217 code", code="unknown_currency", currency=repr(currency)
        )
    code = currency.strip().upper()
    if code not in KNOWN_CURRENCIES:
        raise ValidationError(
            f"unknown currency {currency!r}", code="unknown_currency", currency=currency
        )
    return code


def _validate_mills(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, float):
        raise ValidationError("amounts are never floats", code="float_not_allowed")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("mills must be an int", code="invalid_amount", mills=repr(value))
    if not -_MAX_MILLS < value < _MAX_MILLS:
        raise ValidationError(
            f"amount too large (more than {MAX_DIGITS} digits)", code="invalid_amount"
        )


def _validate_currency(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or value not in KNOWN_CURRENCIES:
        raise ValidationError(
            f"unknown currency {value!r} (use an upper-case ISO 4217 code)",
            code="unknown_currency",
            currency=repr(value),
        )


def _invalid(text: str, why: str) -> ValidationError:
    return ValidationError(f"invalid amount {text!r}: {why}", code="invalid_amount", text=text)


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_TEXT_LENGTH else text[:MAX_TEXT_LENGTH] + "..."


def _parse_number(number: str, text: str) -> Decimal:
    """Turn the digits-and-separators part of an amount into an exact Decimal.

    See ``Money.parse`` for the separator rules.
    """
    dot, comma = "." in number, "," in number
    decimal_sep: str | None
    if dot and comma:
        decimal_sep = "." if number.rfind(".") > number.rfind(",") else ","
    elif dot or comma:
        sep = "." if dot else ","
        if number.count(sep) > 1:
            decimal_sep = None  # "1,234,567" / "1.234.567": grouping only
        elif sep == "," and _AMBIGUOUS_COMMA_RE.fullmatch(number):
            raise ValidationError(
                f"ambiguous amount {text!r}: write 1234, 1,234.00 or 1.234 instead",
                code="ambiguous_amount",
                text=text,
            )
        else:
            decimal_sep = sep
    else:
        decimal_sep = None

    if decimal_sep is not None:
        if number.count(decimal_sep) != 1:
            raise _invalid(text, "misplaced decimal separator")
        whole, _, fraction = number.partition(decimal_sep)
    else:
        whole, fraction = number, ""

    groupers = {char for char in whole if char not in "0123456789"}
    if len(groupers) > 1:
        raise _invalid(text, "mixed digit grouping")
    if groupers:
        (grouper,) = groupers
        if grouper not in _GROUPING_ONLY and grouper not in ".,":
            raise _invalid(text, "unexpected character")
        if not re.fullmatch(rf"[0-9]{{1,3}}(?:{re.escape(grouper)}[0-9]{{3}})+", whole):
            raise _invalid(text, "digits must be grouped by three")
        whole = whole.replace(grouper, "")
    if not re.fullmatch(r"[0-9]+", whole):
        raise _invalid(text, "not a number")
    if decimal_sep is not None and not re.fullmatch(r"[0-9]+", fraction):
        raise _invalid(text, "digits expected after the decimal separator")
    if len(fraction) > 3:
        raise _invalid(text, "more than 3 decimal places (the smallest unit is the mill)")
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


@attrs.frozen
class Money:
    """An exact amount: ``mills`` thousandths of one ``currency`` unit (``Money(12340, "USD")``
    is 12.34 USD).

    Equality is structural (a different currency is simply unequal); ordering, ``+`` and ``-``
    between two currencies raise ValidationError ``currency_mismatch``.
    """

    mills: int = attrs.field(validator=_validate_mills)
    currency: str = attrs.field(validator=_validate_currency)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, _check_currency(currency))

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """``Money.of(Decimal("12.34"), "USD")``, ``Money.of(12, "USD")`` (whole units) or
        ``Money.of("12.345", "USD")`` (a plain decimal string: digits, optional sign and '.')."""
        code = _check_currency(currency)
        if isinstance(amount, float):
            raise ValidationError("amounts are never floats", code="float_not_allowed")
        if isinstance(amount, bool):
            raise _invalid(repr(amount), "not a number")
        if isinstance(amount, int):
            return cls(amount * MILLS_PER_UNIT, code)
        if isinstance(amount, str):
            if len(amount) > MAX_TEXT_LENGTH:
                raise _invalid(_shortened(amount), "too long")
            if not _PLAIN_DECIMAL_RE.fullmatch(amount.strip()):
                raise _invalid(amount, "expected a plain decimal such as 12.34")
            amount = Decimal(amount.strip())
        if isinstance(amount, Decimal):
            return cls.from_decimal(amount, code)
        raise _invalid(repr(amount), "expected Decimal, int or str")

    @classmethod
    def from_decimal(cls, amount: Decimal, currency: str) -> Money:
        """Exact conversion; a value with sub-mill precision (``Decimal("0.0001")``) is refused
        with code ``invalid_amount`` rather than rounded. Trailing zeros are fine."""
        code = _check_currency(currency)
        if not isinstance(amount, Decimal):
            if isinstance(amount, float):
                raise ValidationError("amounts are never floats", code="float_not_allowed")
            raise _invalid(repr(amount), "expected a Decimal")
        sign, digits, exponent = amount.as_tuple()
        if not isinstance(exponent, int):  # NaN, sNaN, Infinity
            raise _invalid(str(amount), "not a finite number")
        if exponent > MAX_DIGITS or len(digits) > MAX_DIGITS + 3:
            raise _invalid(_shortened(str(amount)), "too many digits")
        coefficient = int("".join(map(str, digits)))
        if exponent < -3 - MAX_DIGITS:  # "0E-999999999": no need to build 10**999999996
            if coefficient:
                raise _invalid(_shortened(str(amount)), "more precise than a mill")
            mills = 0
        elif exponent >= -3:
            mills = coefficient * 10 ** (exponent + 3)
        else:
            mills, rest = divmod(coefficient, 10 ** (-3 - exponent))
            if rest:
                raise _invalid(str(amount), "more precise than a mill")
        return cls(-mills if sign else mills, code)

    @classmethod
    def parse(cls, text: str, default_currency: str | None = None) -> Money:
        """Read an amount typed by a person or printed by a system.

        Accepted: ``"12.34 USD"``, ``"USD 12.34"``, ``"-12.34 USD"``, ``"12,34 EUR"``,
        ``"1,234.56 USD"``, ``"1.234,56 EUR"``, ``"1 234,56 EUR"``, ``"0.125 USD"``,
        ``"$12.34"``, ``"€12,34"``, ``"£5"``; codes are case-insensitive. A bare number uses
        ``default_currency`` or raises ``missing_currency``.

        Separator rule:

        1. Spaces, no-break spaces and apostrophes only ever group digits.
        2. If both '.' and ',' appear, the last one is the decimal separator (exactly once)
           and the other groups digits.
        3. If only one of them appears, more than once, it groups digits ("1,234,567").
        4. A single '.' is always the decimal separator ("1.234 USD" is 1 USD 234 mills), as
           in ``str(money)`` and ``to_json``, so those always parse back.
        5. A single ',' is the decimal separator ("12,34 EUR"), except that a 1-3 digit
           non-zero whole part followed by ',' and exactly three digits ("1,234") could as well
           be 1234 as 1.234, so it is refused with code ``ambiguous_amount``; "0,125" is fine.

        Grouping must be by three ("1,23,456" is refused) and at most three decimal places
        are allowed. Errors (ValidationError): ``invalid_amount`` (empty, not a number, NaN,
        infinity, exponent, too many decimals, bad grouping), ``ambiguous_amount``,
        ``missing_currency``, ``unknown_currency``, ``float_not_allowed`` (a Python float).
        """
        if isinstance(text, float):
            raise ValidationError("amounts are never floats", code="float_not_allowed")
        if not isinstance(text, str):
            raise _invalid(repr(text), "expected text")
        stripped = text.strip()
        if not stripped:
            raise _invalid(text, "empty")
        if len(stripped) > MAX_TEXT_LENGTH:
            raise _invalid(text[:MAX_TEXT_LENGTH] + "...", "too long")
        match = _PARSE_RE.fullmatch(stripped)
        if match is None:
            raise _invalid(text, "not an amount")
        if match["sign1"] and match["sign2"]:
            raise _invalid(text, "two signs")

        pre, post = match["pre"], match["post"]
        if pre and post and _symbol_to_code(pre) != _symbol_to_code(post):
            raise _invalid(text, "two different currencies")
        written = pre or post
        if written is not None:
            currency = _check_currency(_symbol_to_code(written))
        elif default_currency is not None:
            currency = _check_currency(default_currency)
        else:
            raise ValidationError(
                f"amount {text!r} has no currency", code="missing_currency", text=text
            )

        amount = _parse_number(match["number"], text)
        if (match["sign1"] or match["sign2"]) == "-":
            amount = -amount
        return cls.from_decimal(amount, currency)

    @classmethod
    def from_json(cls, data: Any) -> Money:
        """Inverse of ``to_json``."""
        if not isinstance(data, dict) or not {"amount", "currency"} <= data.keys():
            raise _invalid(repr(data), 'expected {"amount": ..., "currency": ...}')
        amount, currency = data["amount"], data["currency"]
        if isinstance(amount, float):
            raise ValidationError("amounts are never floats", code="float_not_allowed")
        if not isinstance(amount, str):
            raise _invalid(repr(amount), "amount must be a string")
        return cls.of(amount, currency)

    # -- views --------------------------------------------------------------------------------

    @property
    def decimal(self) -> Decimal:
        """The amount in currency units, always with three places (``Decimal("12.340")``)."""
        digits = tuple(int(d) for d in str(abs(self.mills)))
        return Decimal((1 if self.mills < 0 else 0, digits, -3))

    @property
    def amount(self) -> str:
        """The amount as minimal natural text: two decimals, three when the mill digit is set
        (``"12.34"``, ``"0.125"``, ``"-3.00"``)."""
        whole, mills = divmod(abs(self.mills), MILLS_PER_UNIT)
        fraction = f"{mills:03d}"
        if fraction.endswith("0"):
            fraction = fraction[:2]
        return f"{'-' if self.mills < 0 else ''}{whole}.{fraction}"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def to_json(self) -> dict[str, str]:
        return {"amount": self.amount, "currency": self.currency}

    def format(self, locale: str = "en_US") -> str:
        """Localised text via babel: ``"$12.34"`` (en_US), ``"12,34\\u00a0€"`` (fr_FR, with a
        no-break space). Shows a third decimal only when the mill digit is non-zero."""
        try:
            return _formatted(self.amount, self.currency, locale)
        except (UnknownLocaleError, ValueError) as exc:
            raise ValidationError(
                f"unknown locale {locale!r}", code="unknown_locale", locale=locale
            ) from exc

    @property
    def is_zero(self) -> bool:
        return self.mills == 0

    @property
    def is_negative(self) -> bool:
        return self.mills < 0

    @property
    def is_positive(self) -> bool:
        return self.mills > 0

    # -- arithmetic ---------------------------------------------------------------------------

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValidationError(
                f"cannot combine {self.currency} and {other.currency}",
                code="currency_mismatch",
                currencies=[self.currency, other.currency],
            )

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.mills + other.mills, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.mills - other.mills, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented  # floats and Decimals could lose a mill
        return Money(self.mills * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.mills, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.mills), self.currency)

    def __bool__(self) -> bool:
        return self.mills != 0

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.mills < other.mills

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.mills <= other.mills

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.mills > other.mills

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.mills >= other.mills

    # -- splitting ----------------------------------------------------------------------------

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split by integer ratios without losing a mill (largest remainder method).

        Each part gets the floor of its exact share; the mills left over go one each to the
        parts with the largest remainders, earlier parts first on ties. A negative amount is
        split like its absolute value, then negated. ``sum(parts) == self`` always, and a
        zero ratio always gets zero. Refuses (``invalid_ratios``) empty, negative, non-int
        or all-zero ratios.
        """
        ratios = list(ratios)
        if not ratios or any(isinstance(r, bool) or not isinstance(r, int) for r in ratios):
            raise ValidationError("ratios must be a non-empty list of ints", code="invalid_ratios")
        if any(r < 0 for r in ratios) or sum(ratios) == 0:
            raise ValidationError(
                "ratios must be non-negative and not all zero", code="invalid_ratios"
            )
        total, magnitude = sum(ratios), abs(self.mills)
        shares = [divmod(magnitude * r, total) for r in ratios]
        parts = [share for share, _ in shares]
        left_over = magnitude - sum(parts)
        by_remainder = sorted(range(len(ratios)), key=lambda i: -shares[i][1])
        for index in by_remainder[:left_over]:
            parts[index] += 1
        sign = -1 if self.mills < 0 else 1
        return [Money(sign * part, self.currency) for part in parts]

    def split(self, n: int) -> list[Money]:
        """``n`` parts as equal as possible (earlier parts get the extra mills)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValidationError("split needs a positive int", code="invalid_ratios", n=repr(n))
        return self.allocate([1] * n)


def _symbol_to_code(written: str) -> str:
    return CURRENCY_SYMBOLS.get(written, written.upper())


@functools.lru_cache(maxsize=4096)
def _formatted(amount: str, currency: str, locale: str) -> str:
    """babel's text for an amount: a pure function of its arguments, and about 0.1 ms
    each, so a page of a dozen amounts paid more for them than for its database reads;
    pages show the same amounts again and again (balances, invoices, prices)."""
    return format_currency(Decimal(amount), currency, locale=locale, decimal_quantization=False)
