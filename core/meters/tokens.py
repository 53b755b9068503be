"""Reset tokens: how the data center refills a postage meter that may be offline.

A reset token authorises one refill of one meter's descending register. The vault
issues it (``issue``); the meter's postal security device checks it (``verify``) and
applies it at most once. It is authenticated with HMAC-SHA256 under a key shared by
the data center and that one meter, loaded into the device before it ships.

Why HMAC rather than a signature: the device must verify a token offline, with no
certificate chain or clock-synchronised revocation list, in a few microseconds on a
small secure element; a per-meter symmetric key gives exactly that, and a key that
leaks from one device forges tokens for that device only (``token_wrong_meter``
stops it from serving another serial).

Canonical encoding (version 1, all integers big-endian), then the 32-byte MAC::

    offset size field
    0      4    magic b"PRT1"
    4      1    n = length of the serial (1..32)
    5      n    meter serial, ASCII
    5+n    8    sequence number (unsigned, >= 1, strictly increasing per meter)
    13+n   8    amount in mills (unsigned; 0 = a sync/inspection token with no money)
    21+n   3    ISO 4217 currency code, ASCII upper case
    24+n   8    expiry, seconds since the Unix epoch (UTC)
    32+n   16   nonce (random)
    48+n   32   HMAC-SHA256(key, bytes 0 .. 48+n)

Per-meter key: ``meter_key(installation_secret, serial)`` is
HMAC-SHA256(secret, b"postroom reset key v1\x00" + serial). The data center re-derives
it whenever it issues or checks a token, so it keeps no key table; the same key is
loaded into the meter's device before it ships (``postroom meter provision``).

Text form: where a token travels as text (the vault's ``Refill.token``, the web API's
``reset_token``, the CLI), it is the base64url encoding of the bytes above, without
``=`` padding (``to_text`` / ``from_text``).

Pure: no I/O, no clock of its own (``now`` is passed in).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from datetime import UTC, datetime

import attrs

from postroom.core.errors import Conflict, PermissionDenied, ValidationError
from postroom.core.money import Money

MAGIC = b"PRT1"
NONCE_SIZE = 16
MAC_SIZE = 32
MAX_SERIAL = 32
MIN_KEY = 16
#: Domain separation of the per-meter key (see ``meter_key``).
METER_KEY_LABEL = b"postroom reset key v1\x00"
_SERIAL = re.compile(rb"[A-Za-z0-9-]{1,%d}" % MAX_SERIAL)
_FIXED = struct.Struct(">QQ3sq16s")  # sequence, mills, currency, expiry, nonce


def check_serial(serial: str) -> bytes:
    try:
        raw = serial.encode("ascii")
    except UnicodeEncodeError:
        raise ValidationError("a meter serial is ASCII", code="invalid_serial") from None
    if not 1 <= len(raw) <= MAX_SERIAL or (
        not raw.isalnum() and not raw.replace(b"-", b"").isalnum()
    ):
        raise ValidationError(
            f"a meter serial is 1 to {MAX_SERIAL} letters, digits or '-'", code="invalid_serial"
        )
    return raw


def meter_key(installation_secret: str, serial: str) -> bytes:
    """The reset-token key of meter ``serial``, derived from the installation secret.

    HMAC-SHA256(secret, ``METER_KEY_LABEL`` + serial). The data center re-derives it
    (no key table); it is loaded into the device when the meter is made ready for
    shipping (``postroom meter provision`` prints it) and never travels at a sync. A key
    that leaks from one device forges tokens for that device only.
    """
    if not installation_secret:
        raise ValidationError("the installation secret is empty", code="invalid_meter_key")
    return hmac.new(
        installation_secret.encode("utf-8"), METER_KEY_LABEL + check_serial(serial), hashlib.sha256
    ).digest()


def to_text(token_bytes: bytes) -> str:
    """The token's text form: base64url of its bytes, no padding."""
    return base64.urlsafe_b64encode(bytes(token_bytes)).decode("ascii").rstrip("=")


def from_text(text: str) -> bytes:
    """The bytes of a token's text form; ``token_malformed`` when it is not base64url."""
    bad = ValidationError("malformed reset token: not base64url text", code="token_malformed")
    if not isinstance(text, str):
        raise bad
    clean = text.strip()
    if not clean or "=" in clean or len(clean) % 4 == 1:
        raise bad
    try:
        raw = base64.b64decode(
            clean.encode("ascii") + b"=" * (-len(clean) % 4), altchars=b"-_", validate=True
        )
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise bad from None
    if to_text(raw) != clean:  # non-canonical trailing bits
        raise bad
    return raw


@attrs.frozen
class ResetToken:
    """One authorised refill of meter ``serial`` (the verified content of a token)."""

    serial: str
    sequence: int
    amount: Money
    expires_at: datetime
    nonce: bytes

    def body(self) -> bytes:
        """The canonical bytes the MAC covers."""
        serial = check_serial(self.serial)
        if not 0 < self.sequence < 2**64:
            raise ValidationError("token sequence must be >= 1", code="invalid_token_sequence")
        if not 0 <= self.amount.mills < 2**64:
            raise ValidationError("a refill is not negative", code="invalid_amount")
        if len(self.nonce) != NONCE_SIZE:
            raise ValidationError("token nonce must be 16 bytes", code="token_malformed")
        return (
            MAGIC
            + bytes((len(serial),))
            + serial
            + _FIXED.pack(
                self.sequence,
                self.amount.mills,
                self.amount.currency.encode("ascii"),
                int(self.expires_at.timestamp()),
                self.nonce,
            )
        )


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY:
        raise ValidationError(f"a meter key is at least {MIN_KEY} bytes", code="invalid_meter_key")


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def issue(
    key: bytes,
    serial: str,
    sequence: int,
    amount: Money,
    expires_at: datetime,
    *,
    nonce: bytes | None = None,
) -> bytes:
    """The token bytes authorising ``amount`` for meter ``serial`` (the vault calls this)."""
    _check_key(key)
    if expires_at.tzinfo is None:
        raise ValidationError("expiry must be timezone-aware", code="invalid_expiry")
    token = ResetToken(
        serial,
        sequence,
        amount,
        expires_at.astimezone(UTC).replace(microsecond=0),
        nonce if nonce is not None else secrets.token_bytes(NONCE_SIZE),
    )
    body = token.body()
    return body + _mac(key, body)


def decode(token_bytes: bytes) -> tuple[ResetToken, bytes, bytes]:
    """Parse without authenticating: (token, body, mac). Raises ``token_malformed``."""

    def bad(why: str) -> ValidationError:
        return ValidationError(f"malformed reset token: {why}", code="token_malformed")

    if not isinstance(token_bytes, bytes | bytearray) or len(token_bytes) < 5:
        raise bad("too short")
    data = bytes(token_bytes)
    if data[:4] != MAGIC:
        raise bad("unknown version")
    n = data[4]
    end = 5 + n + _FIXED.size
    if not 1 <= n <= MAX_SERIAL or len(data) != end + MAC_SIZE:
        raise bad("wrong length")
    try:
        serial = data[5 : 5 + n].decode("ascii")
        sequence, mills, currency, expiry, nonce = _FIXED.unpack(data[5 + n : end])
        amount = Money(mills, currency.decode("ascii"))
        expires_at = datetime.fromtimestamp(expiry, UTC)
    except (UnicodeDecodeError, ValidationError, ValueError, OverflowError, OSError):
        raise bad("bad field") from None
    if sequence < 1:
        raise bad("sequence must be >= 1")
    return ResetToken(serial, sequence, amount, expires_at, nonce), data[:end], data[end:]


def authenticate(key: bytes, token_bytes: bytes, serial: str) -> ResetToken:
    """The content of ``token_bytes`` once its MAC verifies under ``key`` and it names
    meter ``serial``: ``token_malformed``, ``token_forged``, ``token_wrong_meter``.

    No clock and no sequence: what the data center checks of a token the device proves
    it applied (its expiry and order were the device's to enforce, when it applied it).
    """
    _check_key(key)
    token, body, mac = decode(token_bytes)
    if not hmac.compare_digest(_mac(key, body), mac):
        raise PermissionDenied("reset token not authentic", code="token_forged")
    if token.serial != serial:
        raise PermissionDenied(
            f"reset token is for meter {token.serial}, not {serial}", code="token_wrong_meter"
        )
    return token


def verify(
    key: bytes, token_bytes: bytes, serial: str, now: datetime, *, last_sequence: int = 0
) -> ResetToken:
    """Authenticate ``token_bytes`` for meter ``serial`` at ``now`` and return its content.

    Checks, in order: structure (``token_malformed``), MAC (``token_forged``), serial
    (``token_wrong_meter``) as ``authenticate`` does, then expiry (``token_expired``:
    ``now >= expires_at``) and that its sequence is greater than ``last_sequence``, the
    last one applied (``token_replayed``).
    """
    token = authenticate(key, token_bytes, serial)
    if now >= token.expires_at:
        raise ValidationError("reset token has expired", code="token_expired")
    if token.sequence <= last_sequence:
        raise Conflict(
            f"reset token {token.sequence} already applied (last {last_sequence})",
            code="token_replayed",
        )
    return token


# ----------------------------------------------------------- piece-log acknowledgements

#: An acknowledgement of the piece log: the data center stored every piece up to a number.
ACK_MAGIC = b"PRA1"
_ACK_FIXED = struct.Struct(">Q")  # the last piece number acknowledged


def issue_piece_ack(key: bytes, serial: str, up_to: int) -> bytes:
    """The bytes by which the data center tells meter ``serial`` that it has stored every
    piece of its log up to number ``up_to``: the device may then drop them (``ack_log``).

    Layout: ``PRA1``, serial length, serial, ``up_to`` (8 bytes big-endian), then
    HMAC-SHA256 under the meter key over those bytes. Authenticated like a reset token (the
    other magic keeps one from passing for the other), so neither the connect PC nor a
    forger without the meter key can make pieces vanish that the data center does not have.
    """
    _check_key(key)
    if not 0 < up_to < 2**63:
        raise ValidationError("a piece number is >= 1", code="invalid_piece_number")
    serial_bytes = check_serial(serial)
    body = ACK_MAGIC + bytes((len(serial_bytes),)) + serial_bytes + _ACK_FIXED.pack(up_to)
    return body + _mac(key, body)


def verify_piece_ack(key: bytes, ack_bytes: bytes, serial: str) -> int:
    """The piece number that ``ack_bytes`` acknowledges for meter ``serial``.

    Refusals: ``ack_malformed`` (structure), ``ack_forged`` (MAC wrong, or for another
    meter). An acknowledgement does not expire: replayed, it acknowledges pieces the data
    center already has, which changes nothing.
    """
    _check_key(key)
    data = bytes(ack_bytes) if isinstance(ack_bytes, bytes | bytearray) else b""
    n = data[4] if len(data) > 4 else 0
    end = 5 + n + _ACK_FIXED.size
    if data[:4] != ACK_MAGIC or not 1 <= n <= MAX_SERIAL or len(data) != end + MAC_SIZE:
        raise ValidationError("malformed piece-log acknowledgement", code="ack_malformed")
    if not hmac.compare_digest(_mac(key, data[:end]), data[end:]):
        raise PermissionDenied("piece-log acknowledgement not authentic", code="ack_forged")
    if data[5 : 5 + n] != check_serial(serial):
        raise PermissionDenied("piece-log acknowledgement is for another meter", code="ack_forged")
    (up_to,) = _ACK_FIXED.unpack(data[5 + n : end])
    if up_to < 1:
        raise ValidationError("malformed piece-log acknowledgement", code="ack_malformed")
    return int(up_to)
