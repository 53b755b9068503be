"""The identity area's pure rules: parsing what people type, the throttle's locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postroom.core.errors import ValidationError
from postroom.core.identity import model
from postroom.core.timezones import default_time_zone, parse_time_zone


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Saint-Étienne", "saint-etienne"),
        ("  SAINT-etienne  ", "saint-etienne"),
        ("Crème   Brûlée", "creme brulee"),
        ("Straße", "strasse"),
    ],
)
def test_security_answers_are_compared_without_case_spaces_or_accents(
    typed: str, kept: str
) -> None:
    assert model.normalise_answer(typed) == kept


def test_phone_numbers_are_kept_in_e164() -> None:
    assert model.parse_phone("(202) 555-0143", "US") == "+12025550143"
    assert model.parse_phone("01 42 68 53 00", "FR") == "+33142685300"
    assert model.phone_country("+33142685300") == "FR"
    with pytest.raises(ValidationError):
        model.parse_phone("+1 555", "US")


def test_emails_are_checked_and_lower_cased_without_a_dns_look_up() -> None:
    assert model.parse_email(" Ann@Example.COM ") == "ann@example.com"
    assert model.parse_email("ann@no-such-domain-at-all.com") == "ann@no-such-domain-at-all.com"
    for bad in ("ann", "ann@", "a" * 300 + "@example.com", "<script>@example.com"):
        with pytest.raises(ValidationError):
            model.parse_email(bad)


def test_text_fields_refuse_control_characters_and_overlong_values() -> None:
    with pytest.raises(ValidationError) as long:
        model.parse_name("x" * 1_000_000)
    assert long.value.code == "too_long"
    with pytest.raises(ValidationError):
        model.parse_company("Acme\x00Corp")
    assert model.parse_name("  Ann   Archer ") == "Ann Archer"


def test_the_common_password_list_holds_ten_thousand() -> None:
    assert len(model.common_passwords()) >= 9_900  # a few differ only in case
    assert "password" in model.common_passwords()


def test_passwords_are_12_to_128_characters() -> None:
    with pytest.raises(ValidationError):
        model.check_password("x" * 11)
    with pytest.raises(ValidationError):
        model.check_password("x" * 129)
    assert model.check_password("x" * 12 + "é") == "x" * 12 + "é"


@pytest.mark.production_argon2
def test_hashes_are_argon2id_with_owasp_parameters() -> None:
    hashed = model.hash_secret("a long secret")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert model.secret_matches("a long secret", hashed)
    assert not model.secret_matches("another", hashed)
    assert not model.secret_matches("a long secret", None)


def test_locks_double_from_the_free_failures_up_to_the_cap() -> None:
    assert model.lock_after(4, 5) is None
    assert model.lock_after(5, 5) == timedelta(seconds=30)
    assert model.lock_after(7, 5) == timedelta(minutes=2)
    assert model.lock_after(500, 5) == model.LONGEST_LOCK


def test_a_session_ends_idle_or_old() -> None:
    rules = model.SessionRules(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert not rules.expired(start, start, start + timedelta(minutes=29))
    assert rules.expired(start, start, start + timedelta(minutes=30))
    late = start + timedelta(hours=12)
    assert rules.expired(start, late - timedelta(minutes=1), late)


def test_staff_and_portal_roles_do_not_mix() -> None:
    from postroom.frontends.web.signin import SignedInUser, has_role

    def person(role: str, staff: bool) -> SignedInUser:
        return SignedInUser(1, "a@example.com", "A", None if staff else "1", role, "en", staff)

    assert has_role(person("admin", staff=False), ("owner", "admin"))
    assert not has_role(person("admin", staff=True), ("owner", "admin"))
    assert has_role(person("admin", staff=True), ("agent", "staff:admin"))
    assert has_role(person("agent", staff=True), ("agent",))
    assert not has_role(person("user", staff=False), ("owner", "admin"))


def test_a_persons_time_zone_is_their_choice_else_their_phones_country() -> None:
    assert default_time_zone("FR") == "Europe/Paris"
    assert default_time_zone("us") == "America/New_York"
    assert default_time_zone("CA") == "America/Toronto"
    assert default_time_zone("DE") == "Europe/Berlin"
    assert default_time_zone("QQ") == "UTC"
    assert parse_time_zone(" Europe/Paris ") == "Europe/Paris"
    with pytest.raises(ValidationError) as caught:
        parse_time_zone("Paris")
    assert caught.value.code == "invalid_time_zone"
    when = datetime(2026, 12, 2, tzinfo=UTC)
    person = model.User(1, "a@example.com", "A", "owner", False, "fr", when, phone="+33142685300")
    assert person.shown_time_zone == "Europe/Paris"
    person.time_zone = "America/Toronto"
    assert person.shown_time_zone == "America/Toronto"
    assert model.User(2, "s@example.com", "S", "agent", True, "en", when).shown_time_zone == "UTC"
