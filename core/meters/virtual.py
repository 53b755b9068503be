"""The data center's virtual postal security device (pure: no I/O, no clock of its own).

PC postage and the kiosk print without a physical meter: as with the open-system
(PC postage) indicia of real vendors, the security device lives at the provider. Each
customer has one **virtual meter** (serial ``V`` + the account number) whose ECDSA
P-256 signing key the data center keeps, sealed with AES-256-GCM under a key derived
from ``POSTROOM_VIRTUAL_METER_KEY``; the meter's serial is the associated data, so a
sealed key copied onto another meter's row does not open. Its indicia are the physical
meters' (``core/meters/indicium.py``), signed the same way, so ``postroom meter
verify-indicium`` checks them with ``postroom meter public-key V<account>``.

A print runs in three steps (``virtual_service.py``): hold the postage on the
customer's postage account, sign and render under the virtual meter's row lock, post
the hold; a failed signature or rendering voids the hold. The transfer ids of each
attempt derive from the customer, the client's idempotency key and the attempt number.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from datetime import date, datetime

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from postroom.core.errors import PostroomError, ValidationError
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.indicium_image import HumanBlock, pack_symbol, render_png, render_svg
from postroom.core.meters.printing import (
    FORMATS,
    carrier_mark,
    check_cost_center,
    check_origin_zip,
    check_request_id,
)
from postroom.core.money import Money
from postroom.core.units import Weight

VIRTUAL_PRODUCT = "PR-CLOUD1"
VIRTUAL_MODEL = "postroom-cloud-psd-1"
SERIAL_PREFIX = "V"
_SEALED_VERSION = b"\x01"
_NONCE_BYTES = 12


class SigningKeyUnavailable(PostroomError):
    """The sealed signing key does not open with the configured key-encryption key."""

    code = "signing_key_unavailable"
    http_status = 503


class PrintStatus:
    """Where one print attempt stands (``virtual_prints.status``)."""

    RESERVED = "reserved"  # postage held, not signed yet
    SIGNED = "signed"  # indicium signed and logged, the hold not posted yet
    POSTED = "posted"  # charged: the piece is done
    VOIDED = "voided"  # the attempt failed, its hold released: a retry starts anew


def virtual_serial(customer_number: str) -> str:
    return SERIAL_PREFIX + customer_number


# ------------------------------------------------------------------------ the key


def new_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _kek(secret: str) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"postroom virtual meter keys v1"
    ).derive(secret.encode("utf-8"))
    return AESGCM(derived)


def seal_key(secret: str, serial: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    """``key`` encrypted for storage: version byte, nonce, AES-GCM ciphertext of its DER."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = os.urandom(_NONCE_BYTES)
    return _SEALED_VERSION + nonce + _kek(secret).encrypt(nonce, der, serial.encode("ascii"))


def open_key(secret: str, serial: str, sealed: bytes) -> ec.EllipticCurvePrivateKey:
    """The signing key sealed by ``seal_key`` (``signing_key_unavailable`` otherwise)."""
    unavailable = SigningKeyUnavailable(
        f"the signing key of virtual meter {serial} does not open with the configured "
        "POSTROOM_VIRTUAL_METER_KEY"
    )
    if sealed[:1] != _SEALED_VERSION:
        raise unavailable
    nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        der = _kek(secret).decrypt(nonce, ciphertext, serial.encode("ascii"))
    except InvalidTag:
        raise unavailable from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise unavailable
    return key


def sign_record(key: ec.EllipticCurvePrivateKey, record: IndiciumRecord) -> tuple[bytes, bytes]:
    """``(record bytes, DER signature)``: ECDSA P-256 / SHA-256, as a physical PSD signs."""
    data = record.to_bytes()
    return data, key.sign(data, ec.ECDSA(hashes.SHA256()))


# --------------------------------------------------------------------- the request


def check_idempotency_key(value: str | None) -> str:
    """The client's key (1-64 of A-Z a-z 0-9 . _ : -), or a fresh one when None."""
    try:
        return check_request_id(value)
    except ValidationError:
        raise ValidationError(
            "an idempotency key is 1-64 of A-Z a-z 0-9 . _ : -", code="invalid_idempotency_key"
        ) from None


def _extras(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError("extras are a list of extra-service codes", code="invalid_extras")
    return tuple(v.strip() for v in value)


def _code(value: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not text or len(text) > 40:
        raise ValidationError(
            "carrier and service are codes of 1-40 characters", code="invalid_service"
        )
    return text


@attrs.frozen
class PostageRequest:
    """One piece to print on the customer's virtual meter (checked on construction)."""

    carrier: str = attrs.field(converter=_code)
    service: str = attrs.field(converter=_code)
    weight: Weight
    origin_zip: str = attrs.field(converter=check_origin_zip)
    extras: tuple[str, ...] = attrs.field(default=(), converter=_extras)
    cost_center: str | None = attrs.field(default=None, converter=check_cost_center)

    def body_hash(self) -> str:
        """What an idempotency key is bound to: another body under the key is a conflict
        (``idempotency.is_replay``). Stored print jobs were hashed as this sorted-key
        object, not as ``idempotency.fingerprint``'s compact list: their retries must
        keep matching, so the bytes stay."""
        body = {
            "carrier": self.carrier,
            "service": self.service,
            "grams": str(self.weight.grams),
            "origin_zip": self.origin_zip,
            "extras": list(self.extras),
            "cost_center": self.cost_center,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def attempt_ids(customer_number: str, key: str, attempt: int) -> tuple[str, str, str]:
    """The vault transfer ids ``(hold, post, void)`` of one print attempt."""
    base = hashlib.sha256(f"{customer_number}:{key}:{attempt}".encode()).hexdigest()[:40]
    return f"vp:{base}", f"vpp:{base}", f"vpv:{base}"


def check_allowed_cost_center(center: str | None, allowed: Sequence[str]) -> None:
    """A print names one of the customer's cost centres when any are set."""
    if center is not None and allowed and center not in allowed:
        raise ValidationError(
            f"{center!r} is not one of the account's cost centres ({', '.join(allowed)})",
            code="cost_center_not_allowed",
        )


# ---------------------------------------------------------------------- the result


@attrs.frozen
class PrintedPostage:
    """A piece printed on a virtual meter: the signed record and what it cost."""

    serial: str
    piece: int
    postage: Money
    carrier: str
    service: str
    cost_center: str | None
    idempotency_key: str
    record_bytes: bytes
    signature: bytes
    printed_at: datetime
    #: False when this is the answer to a retry: the piece was printed before
    created: bool = True

    @property
    def record(self) -> IndiciumRecord:
        return IndiciumRecord.from_bytes(self.record_bytes)

    @property
    def symbol(self) -> bytes:
        return pack_symbol(self.record_bytes, self.signature)

    def render(self, image_format: str) -> bytes:
        """The indicium as PNG or SVG (the physical meters' renderer)."""
        if image_format not in FORMATS:
            raise ValidationError(
                f"indicium image format is png or svg, got {image_format!r}",
                code="invalid_format",
            )
        block = HumanBlock.of(self.record, carrier_mark(self.carrier))
        render = render_png if image_format == "png" else render_svg
        return render(self.symbol, block)


def next_record(
    serial: str,
    pieces: int,
    ascending: int,
    descending: int,
    postage: Money,
    mailing_date: date,
    origin_zip: str,
    service: str,
    rate_digest: str,
) -> IndiciumRecord:
    """The record of the virtual meter's next piece, after ``pieces`` printed for
    ``ascending`` mills; ``descending`` is the postage account's available funds."""
    return IndiciumRecord(
        serial,
        pieces + 1,
        postage,
        mailing_date,
        origin_zip,
        service,
        ascending + postage.mills,
        max(descending, 0),
        bytes.fromhex(rate_digest),
    )
