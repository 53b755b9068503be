"""The refund rules: fee, window, piece claims and indicium checks (no I/O)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.errors import PermissionDenied, ValidationError
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money
from postroom.core.refunds.model import (
    IndiciumProof,
    PieceClaim,
    RefundPolicy,
    RefundReason,
    check_claims,
    check_refund_id,
    load_public_key,
    parse_indicium_date,
    parse_reason,
)

DEFAULT = RefundPolicy()


# ------------------------------------------------------------------------ the fee


@pytest.mark.parametrize(
    ("face", "fee"),
    [
        (350_000, 35_000),  # exactly 350.00: still 10 %
        (349_990, 35_000),  # 34.999 -> 35.00 (half up to the cent)
        (350_001, 35_000),  # one mill above: the fixed fee
        (1_000_000, 35_000),
        (100_000, 10_000),
        (730, 70),  # 0.073 -> 0.07
        (750, 80),  # 0.075 -> 0.08: half up
        (749, 70),  # 0.0749 -> 0.07
        (50, 10),  # 0.005 -> 0.01
        (49, 0),  # 0.0049 -> 0.00
        (1, 0),  # one mill: no fee
        (4, 0),  # the rows of the table in docs/vault.md "The fee"
        (17_300, 1_730),
        (1_200_000, 35_000),
    ],
)
def test_default_fee(face: int, fee: int) -> None:
    assert DEFAULT.fee(face) == fee


def test_the_fee_is_whole_cents_and_never_above_the_face_value() -> None:
    for face in range(1, 5000, 7):
        fee = DEFAULT.fee(face)
        assert fee % 10 == 0
        assert 0 <= fee <= face
    everything = RefundPolicy(fee_percent=Fraction(100), fee_threshold=10_000, fixed_fee=50_000)
    assert everything.fee(5) == 5  # 100 % of 0.005 rounds to 0.01, capped at the face
    assert everything.fee(20_000) == 20_000  # the fixed fee is capped at the face too


@pytest.mark.parametrize("face", [0, -1, True, 1.5, "350"])
def test_fee_refuses_what_is_not_a_positive_integer(face: object) -> None:
    with pytest.raises(ValidationError):
        DEFAULT.fee(face)  # type: ignore[arg-type]


def test_policy_from_settings_reads_decimal_text() -> None:
    policy = RefundPolicy.from_settings("30", "12.5", "500.00", "50")
    assert policy == RefundPolicy(30, Fraction(25, 2), 500_000, 50_000)
    assert policy.fee(1_000) == 130  # 12.5 % of 1.000 = 0.125 -> 0.13
    assert RefundPolicy.from_settings(60, 10, "350.00", "35.00") == DEFAULT


@pytest.mark.parametrize(
    "values",
    [
        ("sixty", "10", "350", "35"),
        ("60.5", "10", "350", "35"),
        ("-1", "10", "350", "35"),
        ("60", "101", "350", "35"),
        ("60", "NaN", "350", "35"),
        ("60", "10", "350.0001", "35"),
        ("60", "10", "350", "-35"),
        ("60", 10.0, "350", "35"),
    ],
)
def test_policy_from_settings_refuses_bad_values(values: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError):
        RefundPolicy.from_settings(*values)


# --------------------------------------------------------------------- the window


def test_window_day_60_is_allowed_and_day_61_refused() -> None:
    printed = date(2026, 1, 1)
    DEFAULT.check_window(1, printed, printed)  # day 0
    DEFAULT.check_window(1, printed, date(2026, 3, 2))  # day 60
    assert DEFAULT.day_of_window(printed, date(2026, 3, 2)) == 60
    with pytest.raises(ValidationError) as refused:
        DEFAULT.check_window(1, printed, date(2026, 3, 3))  # day 61
    assert refused.value.code == "refund_window_passed"
    assert refused.value.details["day"] == 61


def test_window_refuses_an_indicium_date_in_the_future() -> None:
    with pytest.raises(ValidationError) as refused:
        DEFAULT.check_window(4, date(2026, 3, 3), date(2026, 3, 2))
    assert refused.value.code == "indicium_date_in_future"


def test_a_shorter_window() -> None:
    policy = RefundPolicy(window_days=0)
    policy.check_window(1, date(2026, 3, 2), date(2026, 3, 2))
    with pytest.raises(ValidationError):
        policy.check_window(1, date(2026, 3, 1), date(2026, 3, 2))


# ------------------------------------------------------------------------- input


@pytest.mark.parametrize(
    ("piece", "face", "code"),
    [
        (0, 100, "invalid_piece"),
        (-3, 100, "invalid_piece"),
        (True, 100, "invalid_piece"),
        (2**32, 100, "invalid_piece"),
        (1, 0, "invalid_amount"),
        (1, -5, "invalid_amount"),
        (1, 0.73, "float_not_allowed"),
        (1, "730", "invalid_amount"),
        (1, 2**32, "invalid_amount"),
    ],
)
def test_piece_claims_refuse_bad_numbers(piece: object, face: object, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PieceClaim(piece, face, date(2026, 3, 1))  # type: ignore[arg-type]
    assert refused.value.code == code


def test_claims_are_one_to_500_distinct_pieces() -> None:
    day = date(2026, 3, 1)
    assert [c.piece for c in check_claims([PieceClaim(3, 1, day), PieceClaim(1, 1, day)])] == [
        1,
        3,
    ]
    for claims, code in (
        ([], "no_pieces"),
        ([PieceClaim(1, 1, day), PieceClaim(1, 2, day)], "duplicate_piece"),
        ([PieceClaim(i, 1, day) for i in range(1, 502)], "too_many_pieces"),
    ):
        with pytest.raises(ValidationError) as refused:
            check_claims(claims)
        assert refused.value.code == code


@pytest.mark.parametrize(
    "text", ["2026-02-30", "02/03/2026", "2026-3-1", "", "yesterday", 20260301]
)
def test_malformed_indicium_dates(text: object) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_indicium_date(text)
    assert refused.value.code == "invalid_date"


def test_reasons_and_ids() -> None:
    assert parse_reason(" Misprinted ") is RefundReason.MISPRINTED
    with pytest.raises(ValidationError):
        parse_reason("lost")
    with pytest.raises(ValidationError):
        parse_reason(None)
    assert check_refund_id("rf-2026.03:1") == "rf-2026.03:1"
    for bad in ("", "-x", "a" * 41, "has space", "slash/no", 12):
        with pytest.raises(ValidationError):
            check_refund_id(bad)


# ------------------------------------------------------------------- the indicium


def _signed(
    key: ec.EllipticCurvePrivateKey, piece: int = 7, mills: int = 730
) -> tuple[bytes, bytes]:
    record = IndiciumRecord(
        "PB-1",
        piece,
        Money(mills, "USD"),
        date(2026, 3, 1),
        "10001",
        "FCM",
        5000,
        45000,
        b"\0" * 32,
    ).to_bytes()
    return record, key.sign(record, ec.ECDSA(hashes.SHA256()))


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_a_signed_indicium_verifies_with_the_meters_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    record, signature = _signed(key)
    claim = PieceClaim(
        7, 730, date(2026, 3, 1), IndiciumProof.from_hex(record.hex(), signature.hex())
    )
    assert claim.verify("PB-1", "USD", load_public_key(_pem(key))) is True
    assert claim.verify("PB-1", "USD", None) is False  # no key given: checked, not verified
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(PermissionDenied) as refused:
        claim.verify("PB-1", "USD", load_public_key(_pem(other)))
    assert refused.value.code == "indicium_signature_invalid"


def test_an_indicium_that_disagrees_with_the_claim_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    record, signature = _signed(key, mills=730)
    claim = PieceClaim(
        7, 7300, date(2026, 3, 1), IndiciumProof.from_hex(record.hex(), signature.hex())
    )
    with pytest.raises(ValidationError) as refused:
        claim.verify("PB-1", "USD", load_public_key(_pem(key)))
    assert refused.value.code == "indicium_mismatch"


@pytest.mark.parametrize(
    ("record", "signature", "code"),
    [
        ("zz", None, "invalid_indicium"),
        ("", None, "invalid_indicium"),
        ("00", "xy", "invalid_signature"),
    ],
)
def test_bad_hex(record: str, signature: str | None, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        IndiciumProof.from_hex(record, signature)
    assert refused.value.code == code


def test_bad_public_keys() -> None:
    for pem in (
        "",
        "not a key",
        42,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ):
        with pytest.raises(ValidationError) as refused:
            load_public_key(pem)
        assert refused.value.code == "invalid_public_key"


def test_the_settings_reach_the_policy() -> None:
    from postroom.core.config import Config
    from postroom.core.errors import ConfigurationError
    from postroom.core.refunds.service import policy_from_settings

    env = {
        "POSTROOM_REFUND_WINDOW_DAYS": "30",
        "POSTROOM_REFUND_FEE_PERCENT": "5",
        "POSTROOM_REFUND_FEE_THRESHOLD": "500.00",
        "POSTROOM_REFUND_FIXED_FEE": "50.00",
    }
    config = Config.load(env, data_dir="unused")
    policy = policy_from_settings(
        config.refund_window_days,
        config.refund_fee_percent,
        config.refund_fee_threshold,
        config.refund_fixed_fee,
    )
    assert policy == RefundPolicy(30, Fraction(5), 500_000, 50_000)
    defaults = Config.load({}, data_dir="unused")
    assert (
        policy_from_settings(
            defaults.refund_window_days,
            defaults.refund_fee_percent,
            defaults.refund_fee_threshold,
            defaults.refund_fixed_fee,
        )
        == DEFAULT
    )
    with pytest.raises(ConfigurationError):
        policy_from_settings("sixty", "10", "350", "35")


@given(face=st.integers(1, 10**12))
def test_the_fee_is_ten_percent_to_the_nearest_cent_or_the_fixed_fee(face: int) -> None:
    fee = DEFAULT.fee(face)
    assert 0 <= fee <= face
    if face <= 350_000:
        assert fee % 10 == 0
        # within half a cent (5 mills) of the exact 10 % (face / 10), halves going up
        assert -50 < fee * 10 - face <= 50
    else:
        assert fee == 35_000
