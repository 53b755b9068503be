"""Kiosk keys and the services a terminal may print: values and pure rules, no I/O.

A kiosk key is the credential of one mailroom terminal: issued per terminal, scoped to one
customer account, revocable, and listed with its last contact. Like an API key, only a
hash of its secret is kept; the token is shown once. Its scheme (``prt``, postroom
terminal) differs from an API key's (``prk``), so neither is taken for the other.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import attrs

from postroom.core.accounts.model import hash_secret, secret_matches
from postroom.core.errors import Unauthenticated, ValidationError
from postroom.core.rates.model import Quote
from postroom.core.text import check_no_control

KEY_SCHEME = "prt"  # postroom terminal
KEY_PREFIX_BYTES = 6  # 12 hex characters: the public, indexed part of a key
KEY_SECRET_BYTES = 32  # 256 bits: the part only the terminal knows
MAX_LABEL = 100
#: A terminal's last contact is written at most this often (each request would be a write).
CONTACT_RESOLUTION = timedelta(minutes=1)


@attrs.define
class KioskKey:
    """The key of one terminal of a customer account."""

    id: int
    customer_number: str
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_contact_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@attrs.frozen
class IssuedKioskKey:
    """A fresh key: ``token`` is shown once (to be set on the terminal), never stored."""

    key: KioskKey
    token: str = attrs.field(repr=False)


@attrs.frozen
class KioskKeyMaterial:
    prefix: str
    token: str = attrs.field(repr=False)
    secret_hash: str = attrs.field(repr=False)


def new_key_material() -> KioskKeyMaterial:
    prefix = secrets.token_hex(KEY_PREFIX_BYTES)
    secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
    return KioskKeyMaterial(prefix, f"{KEY_SCHEME}_{prefix}_{secret}", hash_secret(secret))


def split_token(token: str) -> tuple[str, str]:
    """(prefix, secret) of a kiosk key; Unauthenticated ``invalid_kiosk_key`` when it is
    malformed (an API key, say)."""
    parts = token.strip().split("_", 2) if isinstance(token, str) else []
    if (
        len(parts) != 3
        or parts[0] != KEY_SCHEME
        or len(parts[1]) != 2 * KEY_PREFIX_BYTES
        or not parts[2]
    ):
        raise Unauthenticated("malformed kiosk key", code="invalid_kiosk_key")
    return parts[1], parts[2]


def key_matches(secret: str, stored_hash: str | None) -> bool:
    """Whether ``secret`` is the stored one; with none stored (unknown prefix), the same
    work against a decoy, so that an unknown key takes as long as a wrong one."""
    return secret_matches(secret, stored_hash or _DECOY_HASH) and stored_hash is not None


_DECOY_HASH = hash_secret("no such kiosk key")


def parse_label(text: str) -> str:
    """Where the terminal stands ("Mailroom, 2nd floor"): 1 to 100 printable characters."""
    label = check_no_control(" ".join(str(text).split()), "label")
    if not label or len(label) > MAX_LABEL:
        raise ValidationError(
            f"a kiosk key needs a label of 1 to {MAX_LABEL} characters (where the terminal is)",
            code="invalid_label",
            field="label",
        )
    return label


def parse_prefix(text: str) -> str:
    """A key's public prefix (12 hex characters), or the prefix of a whole token."""
    value = str(text).strip()
    if value.startswith(f"{KEY_SCHEME}_"):
        value = value.split("_", 2)[1]
    if len(value) != 2 * KEY_PREFIX_BYTES or any(c not in "0123456789abcdef" for c in value):
        raise ValidationError(
            "a kiosk key is named by its 12-character prefix", code="invalid_kiosk_key_prefix"
        )
    return value


def contact_due(last: datetime | None, now: datetime) -> bool:
    """Whether a request at ``now`` is worth recording as the terminal's last contact."""
    return last is None or now - last >= CONTACT_RESOLUTION


def printable(options: tuple[Quote, ...], currency: str) -> tuple[Quote, ...]:
    """The priced services a terminal of an account paying in ``currency`` can print,
    cheapest first (then by carrier and service, for a stable order). A service priced in
    another currency is not offered at all: its postage could never be booked to the
    account (the ledger refuses it as ``currency_mismatch``)."""
    mine = [quote for quote in options if quote.total.currency == currency]
    return tuple(sorted(mine, key=lambda q: (q.total.mills, q.table.carrier, q.table.service)))
