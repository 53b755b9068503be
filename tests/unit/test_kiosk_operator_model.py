"""Kiosk operators' rules: PINs, their hashes and the sign-in throttle (no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import extract_parameters

from postroom.core.accounts import model
from postroom.core.errors import ValidationError


@pytest.mark.parametrize("pin", ["482915", " 4829157 ", "482915730264"])
def test_a_pin_is_six_to_twelve_digits(pin: str) -> None:
    assert model.parse_pin(pin) == pin.strip()


@pytest.mark.parametrize(
    ("pin", "code"),
    [
        ("48291", "invalid_pin"),
        ("4829157302641", "invalid_pin"),
        ("48291a", "invalid_pin"),
        ("\uff14\uff18\uff12\uff19\uff11\uff15", "invalid_pin"),  # full-width digits
        ("", "invalid_pin"),
        ("111111", "weak_pin"),
        ("123456", "weak_pin"),
        ("987654", "weak_pin"),
    ],
)
def test_short_long_non_digit_and_guessable_pins_are_refused(pin: str, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.parse_pin(pin)
    assert refused.value.code == code


@pytest.mark.production_argon2
def test_a_pin_is_hashed_with_argon2id_at_owasp_parameters() -> None:
    stored = model.hash_pin("482915")
    assert stored.startswith("$argon2id$")
    assert "482915" not in stored
    parameters = extract_parameters(stored)
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        19 * 1024,
        2,
        1,
    )
    assert model.pin_matches("482915", stored)
    assert not model.pin_matches("482916", stored)
    assert model.hash_pin("482915") != stored  # salted


def test_without_an_operator_no_pin_matches() -> None:
    assert not model.pin_matches("000000", None)  # the decoy's own PIN included
    assert not model.pin_matches("482915", "not a hash")


def test_the_lock_doubles_after_the_free_failures_and_never_exceeds_the_cap() -> None:
    free = model.OPERATOR_FREE_FAILURES
    assert [model.lock_after(n, free) for n in range(free)] == [None] * free
    assert model.lock_after(free, free) == timedelta(seconds=30)
    assert model.lock_after(free + 1, free) == timedelta(seconds=60)
    assert model.lock_after(free + 2, free) == timedelta(seconds=120)
    assert model.lock_after(free + 1000, free) == model.LONGEST_LOCK == timedelta(minutes=15)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "Alice\x00", "Bob\u200b"])
def test_an_operator_name_is_printable_and_short(name: str) -> None:
    with pytest.raises(ValidationError):
        model.parse_operator_name(name)
