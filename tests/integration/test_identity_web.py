"""The account pages through the test client with CSRF on, on the real database:
registration, verification, sign-in at ASVS level 2, reset, profile, people, API keys."""

from __future__ import annotations

import re
from datetime import timedelta

import attrs
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.frontends.web.signin import COOKIE, SECURE_COOKIE

PASSWORD = "correct horse battery staple"


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def errors(page: str) -> list[str]:
    return re.findall(r'class="field-error[^"]*"[^>]*>([^<]*)<', page)


@attrs.define
class Browser:
    """One person's browser on the portal."""

    client: FlaskClient
    postroom: Postroom

    def post(
        self, path: str, data: dict[str, str], *, form_page: str | None = None
    ) -> TestResponse:
        token = csrf(self.client.get(form_page or path).text)
        return self.client.post(path, data={"csrf_token": token, **data})

    def register(self, **changes: str) -> TestResponse:
        data = {
            "email": "ann@example.com",
            "password": PASSWORD,
            "security_question": "Town where you were born?",
            "security_answer": "Saint-Étienne",
            "name": "Ann Archer",
            "company": "Acme Mail",
            "phone": "+1 202 555 0143",
            "customer_number": "",
            "serial": "",
            **changes,
        }
        return self.post("/account/register", data)

    def mails(self, to: str) -> list[str]:
        """The bodies of the mails to ``to``, newest first (within one instant of the
        frozen clock, in no set order)."""
        return [m.notification.body for m in self.postroom.outbox.messages(recipient=to)]

    def last_mail(self, to: str) -> str:
        mails = self.mails(to)
        assert mails, f"no mail to {to}"
        return mails[0]

    def link(self, to: str, path: str) -> str:
        """The path of the newest link to ``path`` mailed to ``to``."""
        for body in self.mails(to):
            match = re.search(rf"https?://[^/\s]+({path}\S+)", body)
            if match is not None:
                return match.group(1)
        raise AssertionError(f"no {path} link mailed to {to}")

    def verify(self, to: str = "ann@example.com") -> TestResponse:
        link = self.link(to, "/account/verify/")
        return self.post(link, {})

    def sign_in(self, email: str = "ann@example.com", password: str = PASSWORD) -> TestResponse:
        return self.post("/account/sign-in", {"email": email, "password": password})

    def sign_out(self) -> TestResponse:
        return self.post("/account/sign-out", {}, form_page="/account/sign-in")

    def cookie(self) -> str | None:
        found = self.client.get_cookie(COOKIE)
        return None if found is None else found.value

    def member(self, **changes: str) -> None:
        self.register(**changes)
        self.verify(changes.get("email", "ann@example.com"))
        assert self.sign_in(changes.get("email", "ann@example.com")).status_code == 303


@pytest.fixture
def browser(client: FlaskClient, postroom: Postroom) -> Browser:
    return Browser(client, postroom)


@pytest.fixture
def other(app: Flask, postroom: Postroom) -> Browser:
    return Browser(app.test_client(), postroom)


# ------------------------------------------------------------------ registration


def test_register_verify_and_sign_in(browser: Browser, postroom: Postroom) -> None:
    response = browser.register()
    assert response.status_code == 303
    assert browser.client.get(response.headers["Location"]).status_code == 200
    page = browser.client.get(browser.link("ann@example.com", "/account/verify/"))
    assert page.status_code == 200  # a GET shows a button: it changes nothing
    assert not postroom.identity.by_email("ann@example.com").verified
    assert browser.verify().status_code == 303
    assert browser.sign_in().headers["Location"] == "/account/profile"
    profile = browser.client.get("/account/profile")
    assert profile.status_code == 200
    assert "Ann Archer" in profile.text  # the header names who is signed in
    assert 'action="/account/sign-out"' in profile.text
    number = postroom.identity.by_email("ann@example.com").account_number
    assert postroom.accounts.get(number).name == "Acme Mail"


def test_each_wrong_field_has_its_message_and_values_come_back_except_passwords(
    browser: Browser, postroom: Postroom
) -> None:
    response = browser.register(email="ann@", password="short", phone="12", company="")
    assert response.status_code == 200
    page = response.text
    assert errors(page) == [
        "Enter a valid email address.",
        "A password has at least 12 characters.",
        "This field is required.",
        "Enter a valid phone number, e.g. +1 202 555 0143.",
    ]
    assert 'value="ann@"' in page
    assert 'value="Ann Archer"' in page
    assert "short" not in re.sub(r"<p[^>]*>[^<]*</p>", "", page)  # no password re-filled
    assert postroom.identity.staff() == []
    assert postroom.outbox.messages() == []


def test_script_in_a_field_is_escaped_and_a_megabyte_field_is_refused(browser: Browser) -> None:
    response = browser.register(name="<script>alert(1)</script>", company="x" * 1_000_000)
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "This is too long." in errors(response.text)


def test_a_duplicate_registration_looks_like_success_and_mails_the_owner(
    browser: Browser, other: Browser
) -> None:
    browser.member()
    first = len(browser.postroom.outbox.messages())
    response = other.register(name="Mallory", password="mallory's own password")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/registered"
    assert len(browser.postroom.outbox.messages()) == first + 1
    assert any("already has one" in body for body in browser.mails("ann@example.com"))


def test_joining_an_account_needs_its_meter(browser: Browser, postroom: Postroom) -> None:
    account = postroom.accounts.create("Acme", "US", "USD")
    response = browser.register(customer_number=account.number, serial="PM0000001")
    assert "No meter with this serial number is registered to this customer account." in errors(
        response.text
    )


def test_links_used_twice_forged_or_expired_say_so(browser: Browser, clock: FrozenClock) -> None:
    browser.register()
    link = browser.link("ann@example.com", "/account/verify/")
    assert browser.post(link, {}).status_code == 303
    again = browser.post(link, {})  # the form posted twice
    assert again.status_code == 409
    assert "already used" in again.text
    forged = browser.client.get("/account/verify/forged-token-value")
    assert forged.status_code == 200  # the button page; the POST tells
    assert browser.post("/account/verify/forged-token-value", {}).status_code == 404
    browser.post("/account/reset", {"email": "ann@example.com"})
    reset = browser.link("ann@example.com", "/account/reset/")
    clock.advance(timedelta(hours=2))
    expired = browser.client.get(reset)
    assert expired.status_code == 409
    assert "expired" in expired.text


# ------------------------------------------------------------------ sign-in (ASVS)


def test_unverified_people_see_only_the_page_that_says_so(browser: Browser) -> None:
    browser.register()
    response = browser.sign_in()
    assert response.headers["Location"] == "/account/unverified"
    for path in ("/account/profile", "/account/users", "/account/api-keys"):
        assert browser.client.get(path).headers["Location"] == "/account/unverified"
    assert "not confirmed yet" in browser.client.get("/account/unverified").text


def test_signed_out_visitors_are_sent_to_sign_in_and_back(browser: Browser) -> None:
    response = browser.client.get("/account/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sign-in?next=/account/profile"
    browser.register()
    browser.verify()
    token = csrf(browser.client.get("/account/sign-in").text)
    back = browser.client.post(
        "/account/sign-in?next=/account/profile",
        data={"csrf_token": token, "email": "ann@example.com", "password": PASSWORD},
    )
    assert back.headers["Location"] == "/account/profile"
    token = csrf(browser.client.get("/account/sign-in").text)  # a new one after sign-in
    elsewhere = browser.client.post(
        "/account/sign-in?next=//evil.example/",
        data={"csrf_token": token, "email": "ann@example.com", "password": PASSWORD},
    )
    assert elsewhere.headers["Location"] == "/account/profile"


def test_unknown_email_and_wrong_password_answer_the_same(browser: Browser) -> None:
    browser.member()
    browser.sign_out()
    unknown = browser.sign_in("nobody@example.com")
    wrong = browser.sign_in(password="not the password at all")
    assert unknown.status_code == wrong.status_code == 401
    strip = lambda page: re.sub(r'value="[^"]*"', "", page)  # noqa: E731
    assert strip(unknown.text).replace("nobody@example.com", "") == strip(wrong.text).replace(
        "ann@example.com", ""
    )


def test_a_new_session_id_at_sign_in_and_the_old_one_is_dead_after_sign_out(
    browser: Browser, other: Browser
) -> None:
    browser.member()
    first = browser.cookie()
    browser.sign_in()
    second = browser.cookie()
    assert first
    assert second
    assert first != second
    other.client.set_cookie(COOKIE, first)
    assert other.client.get("/account/profile").status_code == 302  # rotated away
    browser.sign_out()
    assert browser.cookie() is None
    other.client.set_cookie(COOKIE, second)
    assert other.client.get("/account/profile").status_code == 302  # ended on the server


def test_session_cookie_flags(browser: Browser, app: Flask) -> None:
    browser.register()
    browser.verify()
    header = browser.sign_in().headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header
    app.config["SESSION_COOKIE_SECURE"] = True  # as POSTROOM_ENV=production sets it
    browser.client.get("/account/sign-in")
    header = browser.sign_in().headers["Set-Cookie"]
    assert header.startswith(SECURE_COOKIE + "=")
    assert "Secure" in header
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def test_idle_and_absolute_timeouts(browser: Browser, clock: FrozenClock) -> None:
    browser.member()
    clock.advance(timedelta(minutes=29))
    assert browser.client.get("/account/profile").status_code == 200
    clock.advance(timedelta(minutes=30))
    assert browser.client.get("/account/profile").status_code == 302
    browser.sign_in()
    for _ in range(24):
        clock.advance(timedelta(minutes=29))
        assert browser.client.get("/account/profile").status_code == 200
    clock.advance(timedelta(minutes=29))
    assert browser.client.get("/account/profile").status_code == 302


def test_guessing_is_throttled_and_the_owner_gets_in_after_the_lock(
    browser: Browser, clock: FrozenClock
) -> None:
    browser.member()
    browser.sign_out()
    for _ in range(5):
        assert browser.sign_in(password="a wrong guess!").status_code == 401
    locked = browser.sign_in()
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.text
    clock.advance(timedelta(seconds=31))
    assert browser.sign_in().status_code == 303


def test_every_form_refuses_a_post_without_its_csrf_token(browser: Browser) -> None:
    browser.member()
    for path in (
        "/account/register",
        "/account/sign-in",
        "/account/sign-out",
        "/account/reset",
        "/account/verify",
        "/account/profile",
        "/account/profile/password",
        "/account/profile/email",
        "/account/profile/security",
        "/account/users/invite",
        "/account/api-keys",
    ):
        response = browser.client.post(path, data={"email": "x@example.com"})
        assert response.status_code == 400, path
    assert browser.client.get("/account/profile").status_code == 200  # still signed in


def test_security_headers_on_the_account_pages(browser: Browser) -> None:
    response = browser.client.get("/account/sign-in")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.text


# ------------------------------------------------------------------ reset and profile


def test_reset_with_the_emailed_link_and_the_security_answer(browser: Browser) -> None:
    browser.member()
    browser.sign_out()
    assert browser.post("/account/reset", {"email": "ann@example.com"}).status_code == 200
    nobody = browser.post("/account/reset", {"email": "nobody@example.com"})
    assert nobody.status_code == 200  # the same page: no hint who is registered
    link = browser.link("ann@example.com", "/account/reset/")
    assert "Town where you were born?" in browser.client.get(link).text
    wrong = browser.post(link, {"security_answer": "Lyon", "password": "a brand new password"})
    assert "This is not the answer you gave." in errors(wrong.text)
    done = browser.post(link, {"security_answer": "saint etienne", "password": "x"})
    assert "A password has at least 12 characters." in errors(done.text)
    done = browser.post(
        link, {"security_answer": "SAINT-ÉTIENNE", "password": "a brand new password"}
    )
    assert done.status_code == 303
    assert browser.sign_in(password="a brand new password").status_code == 303


def test_changing_email_or_password_asks_the_current_password_and_tells_the_old_address(
    browser: Browser,
) -> None:
    browser.member()
    refused = browser.post(
        "/account/profile/email",
        {"current_password": "wrong one here", "new_email": "ann@new.example.com"},
        form_page="/account/profile",
    )
    assert "This is not your current password." in errors(refused.text)
    browser.post(
        "/account/profile/email",
        {"current_password": PASSWORD, "new_email": "ann@new.example.com"},
        form_page="/account/profile",
    )
    link = browser.link("ann@new.example.com", "/account/email/")
    assert browser.post(link, {}).status_code == 303
    assert any("is now ann@new.example.com" in body for body in browser.mails("ann@example.com"))
    browser.post(
        "/account/profile/password",
        {"current_password": PASSWORD, "new_password": "my new long password"},
        form_page="/account/profile",
    )
    assert any(
        "password of your postroom account was changed" in body
        for body in browser.mails("ann@new.example.com")
    )
    assert browser.client.get("/account/profile").status_code == 200  # this session stays


def test_profile_keeps_name_phone_and_language(browser: Browser, postroom: Postroom) -> None:
    browser.member()
    response = browser.post(
        "/account/profile", {"name": "Ann B. Archer", "phone": "01 42 68 53 00", "language": "fr"}
    )
    assert response.status_code == 303
    user = postroom.identity.by_email("ann@example.com")
    assert (user.name, user.phone, user.language) == ("Ann B. Archer", "+33142685300", "fr")
    assert "Votre profil" in browser.client.get("/account/profile").text


# ------------------------------------------------------------------ people and keys


def test_an_owner_invites_a_colleague_who_accepts(
    browser: Browser, other: Browser, postroom: Postroom
) -> None:
    browser.member()
    response = browser.post(
        "/account/users/invite",
        {"email": "op@example.com", "role": "user"},
        form_page="/account/users",
    )
    assert response.status_code == 303
    link = browser.link("op@example.com", "/account/invitation/")
    accepted = other.post(
        link,
        {
            "name": "Otto Operator",
            "phone": "+1 202 555 0199",
            "language": "en",
            "password": "otto's long password",
            "security_question": "Q?",
            "security_answer": "A",
        },
    )
    assert accepted.status_code == 303
    assert other.sign_in("op@example.com", "otto's long password").status_code == 303
    assert "Otto Operator" in browser.client.get("/account/users").text
    # a mailroom operator does not manage people or keys: those pages do not exist for them
    assert other.client.get("/account/users").status_code == 404
    assert other.client.get("/account/api-keys").status_code == 404
    otto = postroom.identity.by_email("op@example.com")
    assert (
        other.post(
            f"/account/users/{otto.id}/role", {"role": "owner"}, form_page="/account/profile"
        ).status_code
        == 404
    )


def test_another_accounts_person_and_key_answer_404(
    browser: Browser, other: Browser, postroom: Postroom
) -> None:
    browser.member()
    other.member(email="bob@example.com", company="Bob's Mail")
    bob = postroom.identity.by_email("bob@example.com")
    bob_key = postroom.accounts.create_api_key(bob.account_number, "bob's")
    for path, data in (
        (f"/account/users/{bob.id}/role", {"role": "user"}),
        (f"/account/users/{bob.id}/remove", {}),
        (f"/account/api-keys/{bob_key.key.prefix}/revoke", {}),
    ):
        assert browser.post(path, data, form_page="/account/profile").status_code == 404, path
    assert postroom.identity.by_email("bob@example.com").role == "owner"
    assert postroom.accounts.api_keys(bob.account_number)[0].active


def test_the_last_owner_is_kept(browser: Browser, postroom: Postroom) -> None:
    browser.member()
    ann = postroom.identity.by_email("ann@example.com")
    response = browser.post(
        f"/account/users/{ann.id}/role", {"role": "user"}, form_page="/account/users"
    )
    assert response.status_code == 303
    assert "keeps at least one owner" in browser.client.get("/account/users").text
    assert postroom.identity.by_email("ann@example.com").role == "owner"


def test_api_keys_are_shown_once_and_revoked(browser: Browser, postroom: Postroom) -> None:
    browser.member()
    created = browser.post("/account/api-keys", {"label": "shipping robot"})
    token = re.search(r'class="token">([^<]+)<', created.text).group(1)
    listed = browser.client.get("/account/api-keys").text
    assert token not in listed
    assert "shipping robot" in listed
    balance = browser.client.get("/api/v1/meters", headers={"Authorization": f"Bearer {token}"})
    assert balance.status_code == 200
    prefix = token.split("_")[1]
    assert (
        browser.post(
            f"/account/api-keys/{prefix}/revoke", {}, form_page="/account/api-keys"
        ).status_code
        == 303
    )
    revoked = browser.client.get("/api/v1/meters", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401


def test_the_api_takes_the_session_with_its_csrf_header(browser: Browser) -> None:
    browser.member()
    assert browser.client.get("/api/v1/meters").status_code == 403  # no CSRF header
    token = csrf(browser.client.get("/account/profile").text)
    response = browser.client.get("/api/v1/meters", headers={"X-CSRFToken": token})
    assert response.status_code == 200
    browser.sign_out()
    assert browser.client.get("/api/v1/meters", headers={"X-CSRFToken": token}).status_code == 401


def test_many_people_signing_in_from_one_address_are_not_locked_out(browser: Browser) -> None:
    browser.member()
    assert browser.sign_in(password="one typo here").status_code == 401
    for _ in range(25):  # more than the address's free failures, all of them successes
        assert browser.sign_in().status_code == 303


def test_staff_are_not_customer_admins(browser: Browser, postroom: Postroom) -> None:
    invited = postroom.identity.invite_staff("staff@vendor.example", "admin")
    postroom.identity.accept_invitation(
        invited.token,
        name="Sam Staff",
        password="sam's long password",
        security_question="Q?",
        security_answer="A",
        phone="+1 202 555 0143",
        language="en",
    )
    assert browser.sign_in("staff@vendor.example", "sam's long password").status_code == 303
    assert browser.client.get("/account/profile").status_code == 200
    for path in ("/account/users", "/account/api-keys"):
        assert browser.client.get(path).status_code == 404, path
    assert browser.client.get("/api/v1/meters", headers={"X-CSRFToken": "x"}).status_code == 403
