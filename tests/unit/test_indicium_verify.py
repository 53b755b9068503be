"""Checking an indicium: signature, fields, and the print request's own checks (no I/O)."""

from __future__ import annotations

import hashlib
from datetime import date

import attrs
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.errors import ValidationError
from postroom.core.meters import indicium_image as ii
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.printing import (
    PrintRequest,
    carrier_mark,
    check_symbol,
    load_public_key,
    verify_indicium,
)
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.units import Weight
from postroom.frontends.serialise.meters import indicium_check_json

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
TODAY = date(2026, 3, 2)
RECORD = IndiciumRecord(
    "SN1",
    3,
    Money(730, "USD"),
    TODAY,
    "12345",
    "first-class-letter",
    2190,
    7810,
    hashlib.sha256(b"table").digest(),
)


def signed(record: IndiciumRecord = RECORD, key: ec.EllipticCurvePrivateKey = KEY) -> bytes:
    data = record.to_bytes()
    return ii.pack_symbol(data, key.sign(data, ec.ECDSA(hashes.SHA256())))


def test_a_signed_record_is_valid_and_reports_its_fields() -> None:
    check = check_symbol(signed(), PEM, today=TODAY)
    assert check.valid
    data = indicium_check_json(check)
    assert data["valid"] is True
    assert (data["serial"], data["piece"], data["postage_mills"]) == ("SN1", 3, 730)
    assert data["control"] == 10_000
    assert data["mailing_date"] == "2026-03-02"
    assert data["payload"] == RECORD.to_bytes().hex()


def test_every_flipped_record_byte_breaks_the_signature() -> None:
    content = signed()
    for at in range(2, 2 + len(RECORD.to_bytes())):
        tampered = bytearray(content)
        tampered[at] ^= 0x10
        check = check_symbol(bytes(tampered), PEM, today=TODAY)
        assert not check.valid
        assert check.code == "signature_invalid"


def test_another_meters_key_is_invalid() -> None:
    check = check_symbol(signed(key=ec.generate_private_key(ec.SECP256R1())), PEM, today=TODAY)
    assert check.code == "signature_invalid"
    assert check.record == RECORD  # the fields are still shown, marked invalid
    assert indicium_check_json(check)["error"]["code"] == "signature_invalid"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"ascending": 100}, "registers_inconsistent"),
        ({"piece": 0}, "registers_inconsistent"),
        ({"mailing_date": date(2026, 4, 2)}, "invalid_mailing_date"),
    ],
)
def test_signed_but_implausible_fields_are_invalid(change: dict, code: str) -> None:
    check = check_symbol(signed(attrs.evolve(RECORD, **change)), PEM, today=TODAY)
    assert check.code == code


def test_the_expected_meter_serial_is_checked() -> None:
    assert check_symbol(signed(), PEM, today=TODAY, serial="SN1").valid
    assert check_symbol(signed(), PEM, today=TODAY, serial="SN2").code == "serial_mismatch"


def test_verify_reads_png_and_svg() -> None:
    content = signed()
    block = ii.HumanBlock.of(RECORD, carrier_mark("usps"))
    assert verify_indicium(ii.render_png(content, block), PEM, today=TODAY).valid
    assert verify_indicium(ii.render_svg(content, block), PEM, today=TODAY).valid


@pytest.mark.parametrize(
    "pem",
    [
        "junk",
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    ],
)
def test_keys_must_be_p256_pem(pem: str | bytes) -> None:
    with pytest.raises(ValidationError) as error:
        load_public_key(pem)
    assert error.value.code == "invalid_public_key"


def test_carrier_marks() -> None:
    assert carrier_mark("usps") == "US POSTAGE"
    assert carrier_mark("acme") == "ACME POSTAGE"


def request(**changes: object) -> PrintRequest:
    fields: dict = {
        "carrier": "usps",
        "service": "first-class-letter",
        "piece": Piece(Weight.parse("1oz")),
        "origin_zip": " k1a 0b1 ",
    }
    fields.update(changes)
    return PrintRequest(**fields)


def test_print_request_normalises_its_fields() -> None:
    made = request(cost_center="  Legal   dept ", extras=["certified"])
    assert made.origin_zip == "K1A 0B1"
    assert made.cost_center == "Legal dept"
    assert made.extras == ("certified",)
    assert made.image_format == "png"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"origin_zip": "1"}, "invalid_zip"),
        ({"origin_zip": "12345678901"}, "invalid_zip"),
        ({"cost_center": "x" * 65}, "invalid_cost_center"),
        ({"cost_center": "   "}, "invalid_cost_center"),
        ({"slogan": "\x00"}, "invalid_slogan"),
        ({"image_format": "pdf"}, "invalid_format"),
    ],
)
def test_print_request_refuses_bad_fields(changes: dict, code: str) -> None:
    with pytest.raises(ValidationError) as error:
        request(**changes)
    assert error.value.code == code
