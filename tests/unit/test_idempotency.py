"""The one idempotency rule every retried request follows: same key and body replays,
same key and another body conflicts, and stored fingerprints keep matching."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.errors import Conflict, ValidationError
from postroom.core.idempotency import canonical_json, check_key, fingerprint, is_replay


def reused() -> Conflict:
    return Conflict("refund id r-1 was used before with another request", code="refund_id_reused")


def test_a_new_key_is_not_a_replay() -> None:
    assert is_replay(None, fingerprint(["a", 1]), reused) is False


def test_the_same_body_again_is_a_replay() -> None:
    body = fingerprint(["SN1", 1200, "USD", None])
    assert is_replay(body, fingerprint(["SN1", 1200, "USD", None]), reused) is True


def test_another_body_under_a_used_key_is_the_areas_conflict() -> None:
    with pytest.raises(Conflict) as refused:
        is_replay(fingerprint(["SN1", 1200]), fingerprint(["SN1", 1300]), reused)
    assert refused.value.code == "refund_id_reused"


scalars = st.one_of(st.text(), st.integers(), st.none())


@given(st.lists(st.one_of(scalars, st.lists(scalars, max_size=3), st.booleans()), max_size=8))
def test_fingerprints_of_rows_stored_earlier_still_match(body: list[object]) -> None:
    # Bodies were hashed as json.dumps(..., separators=(",", ":")) before this module:
    # a replay of such a request must still be recognised.
    earlier = hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
    assert fingerprint(body) == earlier
    assert canonical_json(body) == json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("key", ["a", "order-42", "2026-12-02T09:00:00Z", "x" * 64, "a.b_c:d@e/f"])
def test_well_formed_keys_are_accepted(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "-lead", "x" * 65, "with space", "é", None, 42, "a\nb"])
def test_malformed_keys_are_refused_with_a_stable_code(key: object) -> None:
    with pytest.raises(ValidationError) as refused:
        check_key(key)
    assert refused.value.code == "invalid_idempotency_key"
