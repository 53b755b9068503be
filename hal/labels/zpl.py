"""ZPL II for a postage label: the indicium as a Data Matrix (``^BX``, ECC 200) beside its
human-readable lines, and the reading of such a label back (for the simulator).

The symbol's content is binary (the signed record), so its field is written with ``^FH``:
every byte as ``_XX`` hexadecimal, which no ZPL command character can break. Text lines
drop ``^``, ``~`` and control characters (they would start commands) and are sent as
UTF-8 (``^CI28``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from postroom.core.errors import ValidationError

#: 4 x 6 in at 203 dpi, the usual shipping label.
LABEL_WIDTH = 812
LABEL_LENGTH = 1218
#: Dots a Data Matrix module: 0.75 mm at 203 dpi (postal readers want about 0.5 mm).
MODULE_DOTS = 6
MAX_LINE = 60

_BX_FIELD = re.compile(rb"\^BX[^\^]*\^FH_\^FD((?:_[0-9A-Fa-f]{2})*)\^FS")
_LABEL = re.compile(rb"\^XA(.*?)\^XZ", re.DOTALL)


def _escaped(data: bytes) -> str:
    return "".join(f"_{byte:02X}" for byte in data)


def _clean(text: str) -> str:
    kept = "".join(c for c in text if c.isprintable() and c not in "^~")
    return kept[:MAX_LINE]


def indicium_label(symbol: bytes, lines: Sequence[str], *, copies: int = 1) -> bytes:
    """One label: the Data Matrix of ``symbol`` at the top left, ``lines`` beside it."""
    if not symbol:
        raise ValidationError("a label needs the indicium's symbol", code="invalid_indicium")
    if not 1 <= copies <= 99:
        raise ValidationError("print 1 to 99 copies of a label", code="invalid_copies")
    parts = [
        "^XA",
        "^CI28",
        f"^PW{LABEL_WIDTH}",
        f"^LL{LABEL_LENGTH}",
        f"^FO40,40^BXN,{MODULE_DOTS},200^FH_^FD{_escaped(symbol)}^FS",
    ]
    for index, line in enumerate(lines):
        size = 44 if index < 2 else 30
        parts.append(f"^FO420,{40 + 52 * index}^A0N,{size},{size}^FD{_clean(line)}^FS")
    parts.append(f"^PQ{copies}")
    parts.append("^XZ")
    return ("\n".join(parts) + "\n").encode("utf-8")


def labels_in(stream: bytes) -> list[bytes]:
    """The labels (``^XA`` ... ``^XZ``) a printer received."""
    return [match.group(0) for match in _LABEL.finditer(stream)]


def datamatrix_contents(label: bytes) -> list[bytes]:
    """The content of each ``^BX`` field written with ``^FH_`` in ``label``."""
    return [
        bytes.fromhex(match.group(1).replace(b"_", b"").decode("ascii"))
        for match in _BX_FIELD.finditer(label)
    ]
