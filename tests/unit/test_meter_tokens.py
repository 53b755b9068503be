from datetime import UTC, datetime, timedelta

import pytest

from postroom.core.errors import PostroomError
from postroom.core.meters import tokens
from postroom.core.money import Money

KEY = b"k" * 32
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=7)


FIFTY = Money(50_000, "USD")


def make(sequence=1, serial="SN1", amount=FIFTY, expires=LATER, key=KEY):
    return tokens.issue(key, serial, sequence, amount, expires, nonce=b"n" * 16)


def code_of(call):
    with pytest.raises(PostroomError) as info:
        call()
    return info.value.code


def test_round_trip():
    token = tokens.verify(KEY, make(), "SN1", NOW)
    assert token.serial == "SN1"
    assert token.sequence == 1
    assert token.amount == Money(50_000, "USD")
    assert token.expires_at == LATER
    assert token.nonce == b"n" * 16


def test_canonical_layout_is_documented():
    raw = make()
    assert raw[:4] == b"PRT1"
    assert raw[4] == 3
    assert raw[5:8] == b"SN1"
    assert int.from_bytes(raw[8:16], "big") == 1
    assert int.from_bytes(raw[16:24], "big") == 50_000
    assert raw[24:27] == b"USD"
    assert int.from_bytes(raw[27:35], "big") == int(LATER.timestamp())
    assert raw[35:51] == b"n" * 16
    assert len(raw) == 51 + 32


def test_issue_is_deterministic_given_nonce_and_random_without():
    assert make() == make()
    assert tokens.issue(KEY, "SN1", 1, Money(1, "USD"), LATER) != tokens.issue(
        KEY, "SN1", 1, Money(1, "USD"), LATER
    )


def test_forged_wrong_key():
    assert code_of(lambda: tokens.verify(b"x" * 32, make(), "SN1", NOW)) == "token_forged"


@pytest.mark.parametrize("position", [5, 10, 20, 25, 40, 60, -1])
def test_any_flipped_byte_is_forged_or_malformed(position):
    raw = bytearray(make())
    raw[position] ^= 0x01
    assert code_of(lambda: tokens.verify(KEY, bytes(raw), "SN1", NOW)) in {
        "token_forged",
        "token_malformed",
    }


def test_wrong_meter():
    assert code_of(lambda: tokens.verify(KEY, make(serial="SN2"), "SN1", NOW)) == (
        "token_wrong_meter"
    )


def test_expired():
    assert code_of(lambda: tokens.verify(KEY, make(), "SN1", LATER)) == "token_expired"


def test_replayed():
    raw = make(sequence=5)
    assert tokens.verify(KEY, raw, "SN1", NOW, last_sequence=4).sequence == 5
    assert code_of(lambda: tokens.verify(KEY, raw, "SN1", NOW, last_sequence=5)) == (
        "token_replayed"
    )
    assert code_of(lambda: tokens.verify(KEY, raw, "SN1", NOW, last_sequence=9)) == (
        "token_replayed"
    )


@pytest.mark.parametrize("raw", [b"", b"PRT1", b"XXXX" + bytes(80), make()[:-1], make() + b"x"])
def test_malformed(raw):
    assert code_of(lambda: tokens.verify(KEY, raw, "SN1", NOW)) == "token_malformed"


def test_bad_inputs_to_issue():
    assert code_of(lambda: make(key=b"short")) == "invalid_meter_key"
    assert code_of(lambda: make(serial="bad serial!")) == "invalid_serial"
    assert code_of(lambda: make(sequence=0)) == "invalid_token_sequence"
    assert code_of(lambda: make(amount=Money(-1, "USD"))) == "invalid_amount"
    assert code_of(lambda: make(expires=datetime(2027, 1, 1))) == "invalid_expiry"


def test_zero_amount_sync_token():
    assert tokens.verify(KEY, make(amount=Money(0, "EUR")), "SN1", NOW).amount.is_zero
