"""The virtual meter's pure parts: the sealed key, the request, the record (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.errors import ValidationError
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.printing import check_symbol
from postroom.core.meters.virtual import (
    PostageRequest,
    PrintedPostage,
    SigningKeyUnavailable,
    attempt_ids,
    check_allowed_cost_center,
    check_idempotency_key,
    new_signing_key,
    next_record,
    open_key,
    public_key_pem,
    seal_key,
    sign_record,
    virtual_serial,
)
from postroom.core.money import Money
from postroom.core.units import Weight
from postroom.frontends.serialise.meters import printed_postage_json

DIGEST = "ab" * 32


def test_a_sealed_key_opens_only_with_its_secret_and_serial() -> None:
    key = new_signing_key()
    sealed = seal_key("kek-1", "V1234567897", key)
    opened = open_key("kek-1", "V1234567897", sealed)
    assert public_key_pem(opened) == public_key_pem(key)
    assert b"PRIVATE" not in sealed
    for secret, serial in (("kek-2", "V1234567897"), ("kek-1", "V9999999999")):
        with pytest.raises(SigningKeyUnavailable) as caught:
            open_key(secret, serial, sealed)
        assert caught.value.code == "signing_key_unavailable"
    with pytest.raises(SigningKeyUnavailable):
        open_key("kek-1", "V1234567897", b"\x02" + sealed[1:])
    # the nonce is fresh: sealing twice gives two different blobs
    assert seal_key("kek-1", "V1234567897", key) != sealed


def test_the_next_record_advances_the_registers_and_verifies_like_a_meters() -> None:
    key = new_signing_key()
    postage = Money.parse("0.74 USD")
    record = next_record(
        "V1234567897", 4, 2_960, 17_000, postage, date(2026, 3, 2), "10001", "fcl", DIGEST
    )
    assert (record.piece, record.ascending, record.descending) == (5, 3_700, 17_000)
    payload, signature = sign_record(key, record)
    key.public_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    assert IndiciumRecord.from_bytes(payload) == record
    printed = PrintedPostage(
        "V1234567897",
        5,
        postage,
        "usps",
        "fcl",
        None,
        "k-1",
        payload,
        signature,
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    check = check_symbol(printed.symbol, public_key_pem(key), today=date(2026, 3, 2))
    assert check.valid
    assert printed_postage_json(printed)["ascending"] == 3_700
    with pytest.raises(ValidationError) as caught:
        printed.render("gif")
    assert caught.value.code == "invalid_format"


def test_a_negative_available_balance_prints_a_zero_descending_register() -> None:
    record = next_record(
        "V1", 0, 0, -500, Money.parse("1 USD"), date(2026, 3, 2), "10001", "fcl", DIGEST
    )
    assert record.descending == 0


def test_the_body_hash_binds_the_key_to_the_piece() -> None:
    letter = PostageRequest("usps", "first-class-letter", Weight.parse("1oz"), "10001")
    same = PostageRequest(" USPS ", "first-class-letter", Weight.parse("1 oz"), "10001")
    assert letter.body_hash() == same.body_hash()
    for other in (
        PostageRequest("usps", "first-class-letter", Weight.parse("2oz"), "10001"),
        PostageRequest("usps", "first-class-letter", Weight.parse("1oz"), "10001", ["certified"]),
        PostageRequest("usps", "first-class-letter", Weight.parse("1oz"), "10001", (), "Legal"),
        PostageRequest("usps", "first-class-letter", Weight.parse("1oz"), "75001"),
    ):
        assert other.body_hash() != letter.body_hash()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"origin_zip": "?"}, "invalid_zip"),
        ({"cost_center": " "}, "invalid_cost_center"),
        ({"extras": "certified"}, "invalid_extras"),
        ({"carrier": ""}, "invalid_service"),
    ],
)
def test_a_bad_request_is_refused_with_its_code(fields: dict[str, object], code: str) -> None:
    values: dict[str, object] = {
        "carrier": "usps",
        "service": "first-class-letter",
        "weight": Weight.parse("1oz"),
        "origin_zip": "10001",
        **fields,
    }
    with pytest.raises(ValidationError) as caught:
        PostageRequest(**values)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_keys_ids_and_cost_centres() -> None:
    assert check_idempotency_key("order-1") == "order-1"
    assert len(check_idempotency_key(None)) == 16
    with pytest.raises(ValidationError) as caught:
        check_idempotency_key("x" * 65)
    assert caught.value.code == "invalid_idempotency_key"
    first, second = attempt_ids("1234567897", "k", 1), attempt_ids("1234567897", "k", 2)
    assert len(set(first + second)) == 6
    assert all(len(i) <= 64 for i in first)
    assert attempt_ids("1234567897", "k", 1) == first
    check_allowed_cost_center("Legal", ("Legal", "Sales"))
    check_allowed_cost_center("Anything", ())
    check_allowed_cost_center(None, ("Legal",))
    with pytest.raises(ValidationError) as refused:
        check_allowed_cost_center("Marketing", ("Legal", "Sales"))
    assert refused.value.code == "cost_center_not_allowed"
    assert virtual_serial("1234567897") == "V1234567897"
