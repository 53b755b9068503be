"""One way to make a request safe to retry: a client-chosen key plus the hash of its body.

Every area that accepts a retried request (ledger transfers, payments, refunds, virtual
prints, payouts) stores the body's fingerprint beside the key. The same key with the same
body is a replay and answers the first result; the same key with another body is a
``Conflict`` with the area's own stable code. The fingerprint is the SHA-256 of the body
written as compact, ASCII-only JSON: rows stored before this module existed were hashed
exactly so, and must keep matching their replays.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from postroom.core.errors import Conflict, ValidationError

#: A client's idempotency key: 1 to 64 characters, safe in a URL, a header and a log line.
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,63}")

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
# The encoder's own writers for the exact types a body usually holds (its C escaper):
# ``JSONEncoder.encode`` builds a new C encoder on every call, a cost a mail run of
# thousands of pieces would pay twice a piece.
_WRITERS: dict[type, Callable[[Any], str]] = {
    str: json.encoder.encode_basestring_ascii,
    int: int.__repr__,
    type(None): lambda _: "null",
}


def canonical_json(values: Sequence[object]) -> bytes:
    """Compact, ASCII-only JSON of a list, the same bytes for the same values everywhere.

    A flat list of strings, ints and nulls is written directly; anything else (a nested
    list, a bool) goes through the JSON encoder, which writes the same bytes.
    """
    try:
        text = ",".join([_WRITERS[type(value)](value) for value in values])
    except KeyError:
        return _ENCODER.encode(list(values)).encode("ascii")
    return b"[%s]" % text.encode("ascii")


def fingerprint(body: Sequence[object]) -> str:
    """The hex SHA-256 of a request's body (everything but its key)."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


def check_key(value: object, field: str = "idempotency key") -> str:
    """``value`` when it is a well-formed key, else ``invalid_idempotency_key``."""
    if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value):
        raise ValidationError(
            f"an {field} is 1 to 64 letters, digits or ._:@/- and starts with a letter or digit",
            code="invalid_idempotency_key",
        )
    return value


def is_replay(stored: str | None, body_hash: str, conflict: Callable[[], Conflict]) -> bool:
    """Whether a request whose key was seen before (with ``stored``, its body's hash then;
    None when the key is new) is a replay of it.

    False: the key is new, do the work. True: answer the first result. A different body
    under a used key raises ``conflict()``: silently answering the first result would tell
    the client its second request was done.
    """
    if stored is None:
        return False
    if stored != body_hash:
        raise conflict()
    return True
