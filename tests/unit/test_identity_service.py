"""The identity use cases on in-memory fakes: registration, verification, sign-in and
its throttle, sessions and their timeouts, resets, people and roles, the purge."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from identity_fakes import FakeCustomers, FakeMeters, FakeRepository, FakeTransactions

from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, Locked, NotFound, PermissionDenied, Unauthenticated
from postroom.core.identity.mail import Mailer
from postroom.core.identity.model import InvalidForm, Registration, SessionRules
from postroom.core.identity.service import IdentityService

PASSWORD = "correct horse battery staple"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def customers() -> FakeCustomers:
    return FakeCustomers()


@pytest.fixture
def meters() -> FakeMeters:
    return FakeMeters()


@pytest.fixture
def tx(customers: FakeCustomers) -> FakeTransactions:
    return FakeTransactions(FakeRepository(), customers)


@pytest.fixture
def identity(
    tx: FakeTransactions, clock: FrozenClock, meters: FakeMeters, customers: FakeCustomers
) -> IdentityService:
    rules = SessionRules(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    return IdentityService(tx, clock, Mailer("https://portal.example"), meters, customers, rules)


def form(**changes: str) -> Registration:
    values = {
        "email": "ann@example.com",
        "password": PASSWORD,
        "security_question": "Town where you were born?",
        "security_answer": "Saint-Étienne",
        "name": "Ann Archer",
        "company": "Acme Mail",
        "phone": "+1 202 555 0143",
        "language": "en",
        **changes,
    }
    return Registration(**values)


def link_in(tx: FakeTransactions, path: str) -> str:
    match = re.search(rf"https://portal\.example{path}(\S+)", tx.outbox[-1].body)
    assert match is not None, tx.outbox[-1].body
    return match.group(1)


def registered_and_verified(identity: IdentityService, tx: FakeTransactions, **changes: str):
    identity.register(form(**changes))
    return identity.verify(link_in(tx, "/account/verify/"))


# ------------------------------------------------------------------ registration


def test_registration_mails_a_link_and_verification_opens_a_customer_account(
    identity: IdentityService, tx: FakeTransactions, customers: FakeCustomers
) -> None:
    issued = identity.register(form())
    assert issued is not None
    assert not issued.user.verified
    assert issued.user.account_number is None  # opened at verification, not before
    assert tx.outbox[-1].recipient == "ann@example.com"
    user = identity.verify(link_in(tx, "/account/verify/"))
    assert user.verified
    assert user.role == "owner"
    assert customers.accounts[user.account_number] == ("Acme Mail", "US", "USD")


def test_every_wrong_field_is_reported_at_once_and_nothing_is_stored(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    with pytest.raises(InvalidForm) as caught:
        identity.register(
            form(email="not-an-address", password="short", phone="12", name="", company="")
        )
    assert caught.value.details["fields"] == {
        "email": "invalid_email",
        "password": "password_too_short",
        "phone": "invalid_phone",
        "name": "required",
        "company": "required",
    }
    assert tx.repo.users == {}
    assert tx.outbox == []


def test_a_common_password_is_refused_whatever_its_case(identity: IdentityService) -> None:
    for common in ("unbelievable", "Scandinavian"):
        with pytest.raises(InvalidForm) as caught:
            identity.register(form(password=common))
        assert caught.value.details["fields"] == {"password": "password_common"}


def test_a_duplicate_email_changes_nothing_and_tells_the_owner_of_the_address(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    registered_and_verified(identity, tx)
    users_before = dict(tx.repo.users)
    assert identity.register(form(name="Mallory", password="another long password")) is None
    assert tx.repo.users.keys() == users_before.keys()
    assert tx.outbox[-1].kind == "identity.duplicate"
    assert tx.outbox[-1].recipient == "ann@example.com"


def test_joining_needs_a_meter_of_that_account(
    identity: IdentityService, tx: FakeTransactions, meters: FakeMeters, customers: FakeCustomers
) -> None:
    number = customers.open("Acme", "US", "USD")
    meters.registered.add((number, "PM-100200"))
    with pytest.raises(InvalidForm) as caught:
        identity.register(form(customer_number=number, serial="PM-999999"))
    assert caught.value.details["fields"] == {"serial": "no_matching_meter"}
    first = registered_and_verified(identity, tx, customer_number=number, serial="PM-100200")
    assert (first.account_number, first.role) == (number, "owner")  # nobody was there yet
    identity.register(form(email="bo@example.com", customer_number=number, serial="PM-100200"))
    second = identity.verify(link_in(tx, "/account/verify/"))
    assert (second.account_number, second.role) == (number, "user")
    told = tx.outbox[-1]
    assert (told.recipient, told.kind) == (f"customer:{number}", "identity.joined")
    assert "bo@example.com" in told.body
    assert "bo@example.com" in told.translations["fr"].body
    assert len(customers.accounts) == 1


def test_a_verification_link_works_once_and_not_after_it_expired(
    identity: IdentityService, tx: FakeTransactions, clock: FrozenClock
) -> None:
    identity.register(form())
    token = link_in(tx, "/account/verify/")
    with pytest.raises(NotFound) as forged:
        identity.verify(token[:-2] + "xx")
    assert forged.value.code == "token_invalid"
    clock.advance(timedelta(days=3))
    with pytest.raises(Conflict) as expired:
        identity.verify(token)
    assert expired.value.code == "token_expired"
    identity.resend_verification("ann@example.com")
    fresh = link_in(tx, "/account/verify/")
    identity.verify(fresh)
    with pytest.raises(Conflict) as reused:
        identity.verify(fresh)
    assert reused.value.code == "token_used"


def test_people_not_verified_within_30_days_are_purged_once(
    identity: IdentityService, tx: FakeTransactions, clock: FrozenClock
) -> None:
    identity.register(form())
    registered_and_verified(identity, tx, email="kept@example.com")
    clock.advance(timedelta(days=29))
    assert identity.purge_unverified() == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert identity.purge_unverified() == 1
    assert identity.purge_unverified() == 0
    assert [u.values["email"] for u in tx.repo.users.values()] == ["kept@example.com"]
    assert identity.register(form()) is not None  # the address is free again


# ------------------------------------------------------------------ sign-in


def test_unknown_email_and_wrong_password_fail_alike(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    registered_and_verified(identity, tx)
    with pytest.raises(Unauthenticated) as unknown:
        identity.sign_in("nobody@example.com", PASSWORD, client="10.0.0.1")
    with pytest.raises(Unauthenticated) as wrong:
        identity.sign_in("ann@example.com", "wrong password!", client="10.0.0.1")
    assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)


def test_sign_in_is_locked_after_repeated_failures_and_unlocks_with_time(
    identity: IdentityService, tx: FakeTransactions, clock: FrozenClock
) -> None:
    registered_and_verified(identity, tx)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            identity.sign_in("ann@example.com", "wrong password!", client="10.0.0.1")
    with pytest.raises(Locked) as locked:
        identity.sign_in("ann@example.com", PASSWORD, client="10.0.0.2")
    assert locked.value.code == "sign_in_locked"
    assert 0 < locked.value.details["retry_after"] <= 30
    clock.advance(timedelta(seconds=31))
    assert identity.sign_in("ann@example.com", PASSWORD, client="10.0.0.2").user.verified


def test_the_lock_doubles_but_never_passes_fifteen_minutes(
    identity: IdentityService, tx: FakeTransactions, clock: FrozenClock
) -> None:
    registered_and_verified(identity, tx)
    locks = []
    for _ in range(12):
        with pytest.raises(Unauthenticated):
            identity.sign_in("ann@example.com", "wrong password!", client="10.0.0.1")
        locked_until = tx.repo.throttle("email:ann@example.com")
        if locked_until is not None and locked_until > clock.now():
            locks.append(locked_until - clock.now())
            clock.set(locked_until)  # wait it out: the next guess is checked again
    assert locks[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert max(locks) == timedelta(minutes=15)
    assert identity.sign_in("ann@example.com", PASSWORD, client="10.0.0.9").user


def test_one_client_address_guessing_many_accounts_is_throttled(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    for n in range(20):
        with pytest.raises(Unauthenticated):
            identity.sign_in(f"user{n}@example.com", "guess guess guess", client="203.0.113.9")
    with pytest.raises(Locked):
        identity.sign_in("other@example.com", "guess guess guess", client="203.0.113.9")
    with pytest.raises(Unauthenticated):  # another address is not held back
        identity.sign_in("other@example.com", "guess guess guess", client="198.51.100.1")


def test_an_office_signing_in_from_one_address_is_never_held_back(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    registered_and_verified(identity, tx)
    for _ in range(3):
        with pytest.raises(Unauthenticated):  # a few typos from the office
            identity.sign_in("ann@example.com", "a typo password", client="192.0.2.7")
    for _ in range(40):  # then the whole office signs in, all day, behind one address
        identity.sign_in("ann@example.com", PASSWORD, client="192.0.2.7")
    assert tx.repo.throttles["address:192.0.2.7"][0] == 3


def test_sessions_end_when_idle_or_too_old_and_at_sign_out(
    identity: IdentityService, tx: FakeTransactions, clock: FrozenClock
) -> None:
    registered_and_verified(identity, tx)
    idle = identity.sign_in("ann@example.com", PASSWORD, client="10.0.0.1").token
    clock.advance(timedelta(minutes=29))
    assert identity.session_user(idle).email == "ann@example.com"
    clock.advance(timedelta(minutes=30))
    with pytest.raises(Unauthenticated):
        identity.session_user(idle)
    busy = identity.sign_in("ann@example.com", PASSWORD, client="10.0.0.1").token
    for _ in range(24):  # used every 29 minutes for 11 h 36 min
        clock.advance(timedelta(minutes=29))
        identity.session_user(busy)
    clock.advance(timedelta(minutes=29))
    with pytest.raises(Unauthenticated):
        identity.session_user(busy)  # still ended 12 hours after sign-in
    ended = identity.sign_in("ann@example.com", PASSWORD, client="10.0.0.1").token
    identity.sign_out(ended)
    with pytest.raises(Unauthenticated):
        identity.session_user(ended)


# ------------------------------------------------------------------ reset and profile


def test_reset_needs_the_security_answer_and_ends_every_session(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    registered_and_verified(identity, tx)
    session = identity.sign_in("ann@example.com", PASSWORD, client="10.0.0.1").token
    identity.request_reset("ann@example.com")
    token = link_in(tx, "/account/reset/")
    assert identity.reset_question(token) == "Town where you were born?"
    with pytest.raises(InvalidForm) as wrong:
        identity.reset_password(token, "Lyon", "a brand new password", client="10.0.0.1")
    assert wrong.value.details["fields"] == {"security_answer": "wrong_answer"}
    # the answer as typed differently: case, spaces and accents do not matter
    identity.reset_password(token, "  SAINT-etienne ", "a brand new password", client="10.0.0.1")
    with pytest.raises(Unauthenticated):
        identity.session_user(session)
    assert identity.sign_in("ann@example.com", "a brand new password", client="10.0.0.1")
    with pytest.raises(Conflict):
        identity.reset_password(token, "Saint-Etienne", "yet another password", client="x")


def test_a_reset_request_for_an_unknown_address_sends_nothing(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    assert identity.request_reset("nobody@example.com") is None
    assert identity.request_reset("not an address") is None
    assert tx.outbox == []


def test_nobody_can_flood_an_inbox_with_reset_links(
    identity: IdentityService, tx: FakeTransactions, clock: FrozenClock
) -> None:
    registered_and_verified(identity, tx)
    sent = len(tx.outbox)
    for _ in range(20):
        identity.request_reset("ann@example.com")
    assert len(tx.outbox) == sent + 5
    clock.advance(timedelta(hours=1, seconds=1))
    assert identity.request_reset("ann@example.com") is not None


def test_changing_the_email_asks_the_password_and_tells_the_old_address(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    user = registered_and_verified(identity, tx)
    with pytest.raises(InvalidForm) as wrong:
        identity.change_email(user.id, "not my password", "new@example.com")
    assert wrong.value.details["fields"] == {"current_password": "wrong_password"}
    identity.change_email(user.id, PASSWORD, "New@Example.com")
    assert tx.outbox[-1].recipient == "new@example.com"
    changed = identity.confirm_email(link_in(tx, "/account/email/"))
    assert changed.email == "new@example.com"
    assert tx.outbox[-1].recipient == "ann@example.com"
    assert tx.outbox[-1].kind == "identity.email-changed"


def test_changing_the_password_keeps_this_session_only(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    user = registered_and_verified(identity, tx)
    here = identity.sign_in("ann@example.com", PASSWORD, client="1").token
    elsewhere = identity.sign_in("ann@example.com", PASSWORD, client="2").token
    identity.change_password(user.id, PASSWORD, "a different long one", keep_session=here)
    assert identity.session_user(here).id == user.id
    with pytest.raises(Unauthenticated):
        identity.session_user(elsewhere)
    assert tx.outbox[-1].kind == "identity.password-changed"


# ------------------------------------------------------------------ people and roles


def test_invitations_roles_and_the_last_owner(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    owner = registered_and_verified(identity, tx)
    number = owner.account_number
    invited = identity.invite(number, "op@example.com", "admin", by=owner)
    assert tx.outbox[-1].recipient == "op@example.com"
    admin = identity.accept_invitation(
        link_in(tx, "/account/invitation/"),
        name="Olga",
        password="olga's long password",
        security_question="Q?",
        security_answer="A",
        phone="+33 1 42 68 53 00",
        language="fr",
    )
    assert (admin.id, admin.role, admin.verified) == (invited.user.id, "admin", True)
    with pytest.raises(PermissionDenied):
        identity.invite(number, "boss@example.com", "owner", by=admin)
    with pytest.raises(PermissionDenied):
        identity.set_role(number, owner.id, "user", by=admin)
    with pytest.raises(Conflict) as last:
        identity.set_role(number, owner.id, "user", by=owner)
    assert last.value.code == "last_owner"
    with pytest.raises(Conflict):
        identity.remove(number, owner.id, by=owner)
    identity.set_role(number, admin.id, "owner", by=owner)
    identity.set_role(number, owner.id, "user", by=owner)
    assert {u.email: u.role for u in identity.users(number)} == {
        "ann@example.com": "user",
        "op@example.com": "owner",
    }


def test_an_invitation_is_written_in_the_inviters_language_or_the_one_chosen(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    owner = registered_and_verified(identity, tx, language="fr")
    number = owner.account_number
    invited = identity.invite(number, "op@example.com", "user", by=owner)
    assert invited.user.language == "fr"
    assert tx.outbox[-1].language == "fr"
    assert "vous invite" in tx.outbox[-1].body
    chosen = identity.invite(number, "ed@example.com", "user", by=owner, language="en")
    assert (chosen.user.language, tx.outbox[-1].language) == ("en", "en")
    assert "invites you" in tx.outbox[-1].body
    with pytest.raises(InvalidForm) as caught:
        identity.invite(number, "xx@example.com", "user", by=owner, language="de")
    assert caught.value.details["fields"] == {"language": "invalid_language"}


def test_another_accounts_person_is_not_found(
    identity: IdentityService, tx: FakeTransactions
) -> None:
    ann = registered_and_verified(identity, tx)
    bob = registered_and_verified(identity, tx, email="bob@example.com", company="Bob's")
    with pytest.raises(NotFound):
        identity.set_role(ann.account_number, bob.id, "user", by=ann)
    with pytest.raises(NotFound):
        identity.remove(ann.account_number, bob.id, by=ann)
    with pytest.raises(NotFound):  # a manager of one account manages nothing of another
        identity.invite(bob.account_number, "x@example.com", "user", by=ann)
