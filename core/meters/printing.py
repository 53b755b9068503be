"""Printing postage and checking printed indicia (use cases shared by CLI, kiosk and API).

``print_indicium`` rates the piece on the table in force on the date of mailing
(``pr.rates``), has the meter debit its registers and sign the indicium record (the
table's digest goes into the print job: the meter refuses a table it has not received),
then renders the Data Matrix indicium as PNG or SVG. Everything a person typed is checked
before the meter is asked, so a refusal or a bad option never costs postage. The request
id makes the print idempotent: the same id again (after a lost reply, a reset, a crash
before the file was written) returns the same signed piece, never a second debit.

``verify_indicium`` reads an image back and checks the signature and the fields.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.clock import Clock, today
from postroom.core.errors import DeviceError, PostroomError, ValidationError
from postroom.core.meters.device import PrintedPiece, PrintJob
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.indicium_image import (
    HumanBlock,
    check_graphic,
    check_slogan,
    pack_symbol,
    read_symbol,
    render_png,
    render_svg,
    unpack_symbol,
)
from postroom.core.ports import MeterDevice
from postroom.core.rates.model import Piece, Quote, RateTable
from postroom.core.rates.service import RatesService

#: The image formats an indicium is rendered in.
FORMATS = ("png", "svg")
#: How far ahead a meter accepts a date of mailing (the PSD refuses later dates).
MAX_DAYS_AHEAD = 30
#: The postal mark printed above the amount, by carrier (others: "<CARRIER> POSTAGE").
CARRIER_MARKS = {"usps": "US POSTAGE", "laposte": "LA POSTE", "canadapost": "CANADA POSTAGE"}

#: The data center's rate package of a carrier on a day (the bytes a sync installs), or None.
RatePackage = Callable[[str, date], bytes | None]

_ZIP = re.compile(r"[A-Z0-9][A-Z0-9 -]{1,9}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_COST_CENTER = 64


def carrier_mark(carrier: str) -> str:
    return CARRIER_MARKS.get(carrier, f"{carrier.upper()} POSTAGE")


def rate_table_bytes(table: RateTable) -> bytes:
    """What is installed on a meter for ``table``: its canonical JSON, whose SHA-256 is
    ``table.digest`` (the digest a print job names)."""
    return table.canonical_json().encode()


def new_request_id() -> str:
    return secrets.token_hex(8)


def check_origin_zip(value: str) -> str:
    text = value.strip().upper() if isinstance(value, str) else ""
    if not _ZIP.fullmatch(text):
        raise ValidationError(
            f"origin ZIP must be 2-10 letters, digits, spaces or '-', got {value!r}",
            code="invalid_zip",
            field="origin_zip",
        )
    return text


def check_cost_center(value: str | None) -> str | None:
    """A department name of 1-64 printable characters (whitespace normalised), or None."""
    if value is None:
        return None
    text = " ".join(value.split())
    if not text or len(text) > MAX_COST_CENTER or not text.isprintable():
        raise ValidationError(
            f"a cost centre is 1 to {MAX_COST_CENTER} printable characters",
            code="invalid_cost_center",
        )
    return text


def check_request_id(value: str | None) -> str:
    if value is None:
        return new_request_id()
    if not _REQUEST_ID.fullmatch(value):
        raise ValidationError(
            "a request id is 1-64 of A-Z a-z 0-9 . _ : -", code="invalid_request_id"
        )
    return value


def _check_format(value: str) -> str:
    if value not in FORMATS:
        raise ValidationError(
            f"indicium image format is png or svg, got {value!r}", code="invalid_format"
        )
    return value


def _extras(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class PrintRequest:
    """One piece to frank, as the operator describes it (checked on construction)."""

    carrier: str
    service: str
    piece: Piece
    origin_zip: str = attrs.field(converter=check_origin_zip)
    extras: tuple[str, ...] = attrs.field(default=(), converter=_extras)
    mailing_date: date | None = None
    origin: str | None = None
    destination: str | None = None
    cost_center: str | None = attrs.field(default=None, converter=check_cost_center)
    slogan: str | None = attrs.field(default=None, converter=check_slogan)
    graphic: bytes | None = attrs.field(default=None, converter=check_graphic, repr=False)
    image_format: str = attrs.field(default="png", converter=_check_format)


@attrs.frozen
class PrintedIndicium:
    """A franked piece: the quote, the meter's signed piece and the rendered indicium."""

    quote: Quote
    piece: PrintedPiece
    request_id: str
    cost_center: str | None
    symbol: bytes
    image: bytes
    image_format: str


def print_indicium(
    rates: RatesService,
    device: MeterDevice,
    request: PrintRequest,
    *,
    clock: Clock,
    request_id: str | None = None,
    rate_package: RatePackage | None = None,
) -> PrintedIndicium:
    """Rate, debit and sign, render. Nothing is debited unless every check passed.

    The print names the quoted table's own digest (the one ``postroom rates show`` and
    ``GET /api/v1/rates/tables`` know) when the meter holds that table, alone or inside an
    installed rate package. Only a device that does not report the tables inside its
    packages gets the digest of the data center's rate package for the carrier on that day
    (``rate_package``, the document a sync installs).
    """
    rid = check_request_id(request_id)
    day = request.mailing_date or today(clock)
    if day < today(clock) or day > today(clock) + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationError(
            f"the date of mailing must be today or within {MAX_DAYS_AHEAD} days",
            code="invalid_mailing_date",
        )
    quote = rates.quote(
        request.piece,
        request.carrier,
        request.service,
        request.extras,
        on=day,
        origin=request.origin,
        destination=request.destination,
    )
    digest = _rate_digest(device, quote, request.carrier, day, rate_package)
    job = PrintJob(
        quote.total, digest, request.service, day, request.origin_zip, request.cost_center
    )
    try:
        piece = device.print_postage(job, request_id=rid)
    except ValidationError as error:
        if error.code != "rate_table_unknown":
            raise
        raise _no_rates(quote, day) from error
    except DeviceError as error:
        # the meter may have debited before the line failed: the same request id gets
        # that piece (or prints it for the first time), never a second debit
        raise DeviceError(
            f"{error.message}; the meter may have printed the piece: print again with "
            f"request id {rid} (--request-id) to get it without a second debit",
            code=error.code,
            request_id=rid,
        ) from error
    symbol = pack_symbol(piece.record_bytes, piece.signature)
    block = HumanBlock.of(
        piece.record, carrier_mark(request.carrier), request.slogan, request.graphic
    )
    render = render_png if request.image_format == "png" else render_svg
    return PrintedIndicium(
        quote, piece, rid, request.cost_center, symbol, render(symbol, block), request.image_format
    )


class Printer:
    """The device-print use case wired once by the composition root (``pr.printer``):
    the rates, the clock and the data center's rate packages, so a frontend hands over
    only the device and what the operator asked."""

    def __init__(self, rates: RatesService, clock: Clock, rate_package: RatePackage) -> None:
        self._rates = rates
        self._clock = clock
        self._rate_package = rate_package

    def print(
        self, device: MeterDevice, request: PrintRequest, *, request_id: str | None = None
    ) -> PrintedIndicium:
        """``print_indicium`` on this installation's rates and rate packages."""
        return print_indicium(
            self._rates,
            device,
            request,
            clock=self._clock,
            request_id=request_id,
            rate_package=self._rate_package,
        )


def _no_rates(quote: Quote, day: date) -> ValidationError:
    table = quote.table
    return ValidationError(
        f"the meter has not received the {table.carrier} {table.service} rate table in force "
        f"on {day.isoformat()} (digest {table.digest[:12]}...): connect it to the data "
        "center to update its rates",
        code="rate_table_unknown",
        digest=table.digest,
    )


def installed_rate_digests(diagnostics: Mapping[str, Any]) -> list[str]:
    """The rate digests a meter accepts, from its ``diagnostics``: the installed documents'
    and, from a device that reports them, those of the tables inside its rate packages."""
    digests = diagnostics.get("rate_digests")
    if isinstance(digests, list):
        found = [str(d) for d in digests]
    else:
        latest = diagnostics.get("rate_digest")
        found = [str(latest)] if latest else []
    tables = diagnostics.get("rate_table_digests")
    return found + ([str(d) for d in tables] if isinstance(tables, list) else [])


def _rate_digest(
    device: MeterDevice, quote: Quote, carrier: str, day: date, package: RatePackage | None
) -> str:
    installed = installed_rate_digests(device.diagnostics())
    if quote.table.digest in installed:
        return quote.table.digest
    document = package(carrier, day) if package is not None else None
    if document is not None and hashlib.sha256(document).hexdigest() in installed:
        return hashlib.sha256(document).hexdigest()
    raise _no_rates(quote, day)


# -- verifying -----------------------------------------------------------------------------------


def load_public_key(pem: str | bytes) -> ec.EllipticCurvePublicKey:
    """A meter's ECDSA P-256 public key from PEM (``invalid_public_key`` otherwise)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValidationError("not a PEM public key", code="invalid_public_key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValidationError("meter keys are ECDSA P-256", code="invalid_public_key")
    return key


@attrs.frozen
class IndiciumCheck:
    """What ``verify_indicium`` found: the fields, and whether the indicium is valid."""

    record_bytes: bytes
    signature: bytes
    record: IndiciumRecord | None
    code: str | None = None
    reason: str | None = None

    @property
    def valid(self) -> bool:
        return self.code is None


def check_symbol(
    symbol: bytes, public_key_pem: str | bytes, *, today: date, serial: str | None = None
) -> IndiciumCheck:
    """Check a symbol's content: signature first, then the record's fields."""
    key = load_public_key(public_key_pem)
    record_bytes, signature = unpack_symbol(symbol)
    try:
        record: IndiciumRecord | None = IndiciumRecord.from_bytes(record_bytes)
    except PostroomError:
        record = None

    def invalid(code: str, reason: str) -> IndiciumCheck:
        return IndiciumCheck(record_bytes, signature, record, code, reason)

    try:
        key.verify(signature, record_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return invalid(
            "signature_invalid",
            "the signature does not verify with this key: the indicium was altered "
            "or printed by another meter",
        )
    if record is None:
        return invalid("invalid_indicium", "the signed record cannot be read")
    if serial is not None and record.serial != serial:
        return invalid(
            "serial_mismatch", f"the indicium is meter {record.serial}'s, not meter {serial}'s"
        )
    if record.piece < 1 or record.ascending < record.postage.mills or record.postage.mills < 1:
        return invalid(
            "registers_inconsistent",
            "the registers do not add up: the ascending register must include this postage",
        )
    if record.mailing_date > today + timedelta(days=MAX_DAYS_AHEAD):
        return invalid(
            "invalid_mailing_date",
            f"the date of mailing {record.mailing_date.isoformat()} is more than "
            f"{MAX_DAYS_AHEAD} days ahead",
        )
    return IndiciumCheck(record_bytes, signature, record)


def verify_registered_indicium(
    image: bytes, key_of: Callable[[str], str], *, today: date, serial: str | None = None
) -> IndiciumCheck:
    """Check an indicium with the key its meter was registered with: ``key_of(serial)``
    is that meter's pinned public key (it raises for a meter it does not know).

    The meter is ``serial`` when given, else the one the indicium's record names: read
    before the signature is checked, but a false claim then fails the signature under
    the named meter's key, so the record cannot choose a key that suits it.
    """
    symbol = read_symbol(image)
    if serial is None:
        record_bytes, _ = unpack_symbol(symbol)
        serial = IndiciumRecord.from_bytes(record_bytes).serial
    return check_symbol(symbol, key_of(serial), today=today, serial=serial)


def verify_indicium(
    image: bytes, public_key_pem: str | bytes, *, today: date, serial: str | None = None
) -> IndiciumCheck:
    """Decode the indicium image (PNG or other raster, or postroom's SVG) and check it.

    An image without a readable symbol raises ``UnreadableIndicium``
    (``indicium_unreadable``); a symbol that decodes but does not check out is returned
    with ``valid`` false and the reason.
    """
    load_public_key(public_key_pem)  # a bad key is a usage error, before any decoding
    return check_symbol(read_symbol(image), public_key_pem, today=today, serial=serial)
