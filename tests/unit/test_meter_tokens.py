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


def test_meter_key_is_per_meter_and_per_installation():
    import hashlib
    import hmac

    key = tokens.meter_key("s3cret", "PB-1")
    assert key == hmac.new(b"s3cret", b"postroom reset key v1\x00PB-1", hashlib.sha256).digest()
    assert len(key) == 32
    assert key == tokens.meter_key("s3cret", "PB-1")
    assert key != tokens.meter_key("s3cret", "PB-2")
    assert key != tokens.meter_key("other", "PB-1")
    with pytest.raises(PostroomError) as bad:
        tokens.meter_key("s3cret", "PB 1")
    assert bad.value.code == "invalid_serial"


def test_text_form_round_trips_and_is_unpadded_base64url():
    raw = tokens.issue(
        tokens.meter_key("s3cret", "PB-1"),
        "PB-1",
        1,
        Money(50_000, "USD"),
        datetime(2030, 1, 1, tzinfo=UTC),
    )
    text = tokens.to_text(raw)
    assert not set(text) & set("=+/")
    assert tokens.from_text(text) == raw
    assert tokens.from_text(f"  {text}\n") == raw


# "AB" is one byte whose unused trailing bits are set: not the canonical text of any token
@pytest.mark.parametrize("text", ["", "a", "ab=c", "a+b/", "not a token!", "AB==", "é", "AB"])
def test_bad_text_is_malformed(text):
    with pytest.raises(PostroomError) as bad:
        tokens.from_text(text)
    assert bad.value.code == "token_malformed"


def test_authenticate_checks_the_mac_and_the_meter_but_neither_clock_nor_order():
    # what the data center checks of a token the device proves it applied, however late
    raw = make(sequence=3)
    assert code_of(lambda: tokens.verify(KEY, raw, "SN1", LATER)) == "token_expired"
    late = tokens.authenticate(KEY, raw, "SN1")
    assert (late.sequence, late.amount, late.expires_at) == (3, FIFTY, LATER)
    assert code_of(lambda: tokens.authenticate(b"x" * 32, raw, "SN1")) == "token_forged"
    assert code_of(lambda: tokens.authenticate(KEY, raw, "SN2")) == "token_wrong_meter"
    assert code_of(lambda: tokens.authenticate(KEY, raw[:-1], "SN1")) == "token_malformed"
