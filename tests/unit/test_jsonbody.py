"""The API's one JSON parser: its limits hold, and it only ever raises the project's errors."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.errors import PostroomError, ValidationError
from postroom.frontends.web.jsonbody import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_NUMBER_DIGITS,
    BadRequest,
    PayloadTooLarge,
    parse_json,
)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_nesting_up_to_the_limit_parses():
    assert parse_json(nested(MAX_DEPTH)) is not None


@pytest.mark.parametrize("raw", [nested(MAX_DEPTH + 1), b"[" * 100_000, b'{"a":' * 100_000])
def test_deeper_nesting_is_refused_before_the_parser_recurses(raw):
    with pytest.raises(ValidationError) as caught:
        parse_json(raw)
    assert caught.value.code == "json_too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"note": "[" * 10_000, "quote": '\\"[[[' * 100})
    assert parse_json(text.encode())["note"] == "[" * 10_000


def test_a_body_over_the_size_limit_is_a_413():
    with pytest.raises(PayloadTooLarge) as caught:
        parse_json(b" " * (MAX_BODY_BYTES + 1))
    assert caught.value.http_status == 413


@pytest.mark.parametrize("literal", ["9" * 5000, "-" + "9" * 5000, "1." + "0" * 5000])
def test_a_number_with_thousands_of_digits_is_refused(literal):
    with pytest.raises(ValidationError) as caught:
        parse_json(f'{{"weight": {literal}}}'.encode())
    assert caught.value.code == "number_too_long"


def test_an_exponent_past_the_digit_limit_stays_a_float_that_integer_fields_refuse():
    assert parse_json(b"[1e99999, 1e101]") == [float("inf"), 1e101]


def test_integral_numbers_are_integers_and_fractions_stay_floats():
    # JSON has one number type: 30.0 and 3e1 denote the integer 30, as in JSON Schema
    assert parse_json(b"[30, 30.0, 3e1, 2.5]") == [30, 30, 30, 2.5]
    assert [type(v) for v in parse_json(b"[30.0, 2.5]")] == [int, float]


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b"{", b"\xff\xfe", b""])
def test_what_is_not_json_is_a_400(raw):
    with pytest.raises(BadRequest) as caught:
        parse_json(raw)
    assert caught.value.code == "invalid_json"


LIMIT = 10**MAX_NUMBER_DIGITS
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-LIMIT + 1, LIMIT - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_every_small_json_document_reads_back(value):
    assert parse_json(json.dumps(value).encode()) == value


@given(st.integers(MAX_NUMBER_DIGITS + 1, 6000), st.sampled_from(["", "-"]))
def test_an_integer_past_the_digit_limit_is_refused(digits, sign):
    with pytest.raises(ValidationError):
        parse_json(f"{sign}1{'0' * (digits - 1)}".encode())


@given(st.binary(max_size=200) | st.text(alphabet='[]{}",:0123456789.eE-\\ ', max_size=200))
def test_any_bytes_parse_or_raise_a_project_error(raw):
    data = raw if isinstance(raw, bytes) else raw.encode()
    with contextlib.suppress(PostroomError):
        parse_json(data)
