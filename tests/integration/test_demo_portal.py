"""The demo's portal people: `serve --demo` prints an owner's and an operator's
passwords once, and they sign in to the demo customer's dashboard."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

from postroom.core import demo
from postroom.core.app import Postroom
from postroom.core.demo import DEMO_CUSTOMER, load_demo


def credentials(facts: dict[str, str], who: str) -> tuple[str, str]:
    match = re.fullmatch(r"(\S+), password (\S+) \(sign in at /account/sign-in\)", facts[who])
    assert match is not None, facts[who]
    return match.group(1), match.group(2)


def test_the_demo_owner_and_operator_sign_in_with_the_printed_passwords(
    postroom: Postroom, client: FlaskClient
) -> None:
    facts: dict[str, str] = {}
    load_demo(postroom, facts=facts)
    customer = next(a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER)
    owner_email, owner_password = credentials(facts, "demo portal owner")
    operator_email, operator_password = credentials(facts, "demo portal operator")
    assert owner_password != operator_password
    source = Path(demo.__file__).read_text()
    assert owner_password not in source  # generated at start, not written in the repo
    assert operator_password not in source
    people = {u.email: u for u in postroom.identity.users(customer.number)}
    assert people[owner_email].role == "owner"
    assert people[operator_email].role == "user"
    assert people[owner_email].verified
    assert people[operator_email].verified
    assert people[operator_email].language == "fr"

    page = client.get("/account/sign-in").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    signed = client.post(
        "/account/sign-in",
        data={"csrf_token": token.group(1), "email": operator_email, "password": operator_password},
    )
    assert signed.headers["Location"] == "/dashboard"
    dashboard = client.get("/dashboard").text
    assert "PR-DEMO-0001" in dashboard
    assert "Tableau de bord" in dashboard  # her language since she signed in

    again: dict[str, str] = {}
    assert "portal-users" not in load_demo(postroom, facts=again)  # a restart adds nobody
    assert "demo portal owner" not in again
    assert postroom.identity.sign_in(owner_email, owner_password, client="test").user.verified
