"""Pure rules of the meter registry and the sync plan (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core.errors import Unauthenticated, ValidationError
from postroom.core.meters import model
from postroom.core.meters.model import InspectionRules
from postroom.core.meters.sync import (
    WITHDRAWN_LOCK,
    InstallStep,
    SyncPlan,
    SyncResults,
    TokenOutcome,
    TokenStep,
    Wanted,
    decide,
    expected_control,
    token_request_id,
)

NUMBERS = st.integers(10**9, 10**10 - 1).map(
    lambda n: str(n) + model.installation_check_digit(str(n))
)


# ---------------------------------------------------------------- installation numbers


def test_a_new_installation_number_is_eleven_digits_with_a_valid_check_digit() -> None:
    for _ in range(200):
        number = model.new_installation_number()
        assert len(number) == 11
        assert number.isdigit()
        assert number[0] != "0"
        assert model.is_valid_installation_number(number)


def test_the_check_digit_is_luhn() -> None:
    # 7992739871 is the classic Luhn example: its check digit is 3
    assert model.installation_check_digit("7992739871") == "3"
    assert model.parse_installation_number("7992-739871 3") == "79927398713"


@given(NUMBERS, st.integers(0, 10), st.integers(1, 9))
def test_any_single_mistyped_digit_is_caught(number: str, position: int, delta: int) -> None:
    digit = (int(number[position]) + delta) % 10
    typo = number[:position] + str(digit) + number[position + 1 :]
    assert not model.is_valid_installation_number(typo)


@given(NUMBERS, st.integers(0, 9))
def test_swapped_neighbours_are_caught_except_09(number: str, position: int) -> None:
    a, b = number[position], number[position + 1]
    swapped = number[:position] + b + a + number[position + 2 :]
    if a != b and {a, b} != {"0", "9"} and swapped[0] != "0":
        assert not model.is_valid_installation_number(swapped)


@pytest.mark.parametrize("text", ["", "1234567890", "123456789012", "1234567890a", "01234567897"])
def test_malformed_installation_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.parse_installation_number(text)
    assert refused.value.code == "invalid_installation_number"


# ------------------------------------------------------------------------ parsers


def test_cost_centres_are_cleaned_and_bounded() -> None:
    assert model.parse_cost_centers(["Legal", "  Sales  team ", "Legal"]) == ("Legal", "Sales team")
    for bad in (["-x"], [""], "Legal", [3], ["x" * 61]):
        with pytest.raises(ValidationError):
            model.parse_cost_centers(bad)


def test_product_codes_and_meter_keys() -> None:
    assert model.parse_product_code(" pr-vpsd1 ") == "PR-VPSD1"
    with pytest.raises(ValidationError):
        model.parse_product_code("PB-1")
    key = model.new_meter_key()
    prefix, secret = model.split_meter_key(key.token)
    assert prefix == key.prefix
    assert model.meter_secret_matches(secret, key.secret_hash)
    assert not model.meter_secret_matches(secret + "x", key.secret_hash)
    with pytest.raises(Unauthenticated):
        model.split_meter_key("prk_" + key.token[4:])  # a customer key's scheme


# --------------------------------------------------------------------- inspection


def test_inspection_status_and_reminders() -> None:
    rules = InspectionRules(due_days=90, lock_days=120, warning_days=14)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.status(t0, t0 + timedelta(days=89)) == "ok"
    assert rules.status(t0, t0 + timedelta(days=90)) == "due"
    assert rules.status(t0, t0 + timedelta(days=120)) == "overdue"
    assert rules.reminder(t0, t0 + timedelta(days=105, hours=23)) is None
    assert rules.reminder(t0, t0 + timedelta(days=106)) == "warning"
    assert rules.reminder(t0, t0 + timedelta(days=120)) == "overdue"
    with pytest.raises(ValidationError):
        InspectionRules(due_days=120, lock_days=90)


# ---------------------------------------------------------------------- the plan


DEVICE = {
    "firmware": "1.0.0",
    "rate_digest": "a" * 64,
    "features": {"dept": True},
    "graphics": {"logo": "b" * 64},
    "locked": False,
}


def test_an_up_to_date_meter_needs_only_a_sync_token() -> None:
    wanted = Wanted(True, "a" * 64, "1.0.0", {"dept": True}, {"logo": "b" * 64})
    decision = decide(wanted, DEVICE, pending_tokens=0)
    assert decision.issue_sync_token
    assert not decision.apply_tokens
    assert not decision.install_rates
    assert not decision.install_firmware
    assert (decision.graphics, decision.features, decision.lock) == ((), None, None)


def test_pending_refills_replace_the_sync_token() -> None:
    decision = decide(Wanted(True), DEVICE, pending_tokens=2)
    assert decision.apply_tokens
    assert not decision.issue_sync_token


def test_only_what_differs_is_installed_or_set() -> None:
    wanted = Wanted(
        True, "c" * 64, "1.1.0", {"dept": True, "kiosk": False}, {"logo": "d" * 64, "ad": "e" * 64}
    )
    decision = decide(wanted, DEVICE, pending_tokens=0)
    assert decision.install_rates
    assert decision.install_firmware
    assert decision.graphics == ("ad", "logo")
    assert decision.features == {"kiosk": False}


def test_a_withdrawn_meter_is_locked_and_gets_nothing_else() -> None:
    decision = decide(Wanted(False, "c" * 64, "2.0"), DEVICE, pending_tokens=3)
    assert decision.lock == WITHDRAWN_LOCK
    assert not decision.apply_tokens
    assert not decision.issue_sync_token
    assert not decision.install_rates
    assert decide(Wanted(False), {**DEVICE, "locked": True}, 0).lock is None


def test_expected_control_sums_the_tokens_up_to_the_last_applied() -> None:
    issued = [(1, 5000, True), (2, 0, False), (3, 7000, False)]
    assert expected_control(issued, 2) == 5000
    assert expected_control(issued, 3) == 12000
    assert token_request_id(7) == "prt-7"


def test_the_conversation_round_trips_through_json() -> None:
    plan = SyncPlan(
        "s1",
        "PR-1",
        4,
        (TokenStep(2, "UFJUMQ", 5000),),
        (InstallStep("rates", "f" * 64, b"\x00table", version=""),),
        {"dept": True},
        None,
    )
    assert SyncPlan.from_json(plan.to_json()) == plan
    results = SyncResults("s1", tokens=(TokenOutcome(2, "refused", "token_expired"),))
    assert SyncResults.from_json(results.to_json()) == results
    for bad in ({"sync_id": 3}, {"sync_id": "s", "tokens": [{"sequence": -1, "status": "x"}]}):
        with pytest.raises(ValidationError):
            SyncResults.from_json(bad)


def test_usage_groups_one_transfer_per_cost_centre_per_upload() -> None:
    ids = model.usage_groups("PR-1", [(5, 730, "Legal"), (6, 730, None), (7, 100, "Legal")])
    assert ids == {5: "mu:PR-1:5-7:1", 6: "mu:PR-1:5-7:0", 7: "mu:PR-1:5-7:1"}
    longest = model.usage_groups("X" * 32, [(2**40 - 2, 1, "a"), (2**40 - 1, 1, "b")])
    assert all(len(i) <= 64 for i in longest.values())
    assert len(set(longest.values())) == 2
