"""Whole numbers a request carries: a record's id in a path or a form, a list's limit and
offset in the query. Only ASCII digits count (``"²"`` is a digit to ``str.isdigit`` and
not to ``int``), and only a few of them: a 30-digit id overflows any store's integer, and
5,000 digits exceed Python's own conversion limit."""

from __future__ import annotations

from flask import request

from postroom.core.errors import ValidationError

#: what any store's signed 32-bit integer holds
ID_DIGITS = 9


def record_id(text: str, *, digits: int = ID_DIGITS) -> int | None:
    """``text`` as a record's id, or None when no record can have it."""
    if text.isascii() and text.isdigit() and len(text) <= digits:
        return int(text)
    return None


def int_arg(name: str, default: int, low: int = 0, high: int = 10**ID_DIGITS - 1) -> int:
    """The query argument ``name`` (``default`` without it), from ``low`` to ``high``;
    anything else is refused with ``invalid_<name>``."""
    text = request.args.get(name)
    if text is None:
        return default
    value = record_id(text, digits=len(str(high)))
    if value is None or not low <= value <= high:
        raise ValidationError(
            f"{name} is a whole number from {low} to {high}", code=f"invalid_{name}"
        )
    return value
