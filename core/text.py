"""Free text from outside (references, names, notes): no control characters.

A NUL byte or an escape sequence in a stored reference reaches terminals, CSV exports,
PDF statements and PostgreSQL (which cannot store NUL in text at all); a lone surrogate
cannot be encoded to UTF-8. Every such text is refused with the one stable code
``control_character``, naming the field.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from postroom.core.errors import ValidationError

#: Line breaks and tabs are text in a multi-line note, never in a one-line field.
_NOTE_WHITESPACE: Final = frozenset("\n\r\t")


def check_no_control(value: str, field: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or ValidationError ``control_character`` if it holds a control
    character (Unicode category Cc) or a lone surrogate (Cs)."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") and not (
            multiline and char in _NOTE_WHITESPACE
        ):
            raise ValidationError(
                f"{field} contains the control character U+{ord(char):04X}",
                code="control_character",
                field=field,
            )
    return value
