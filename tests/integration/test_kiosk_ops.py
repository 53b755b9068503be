"""Kiosk operators' badges and cost centres, the terminals' piece log and report, notices,
tracking and support cases, on the real database: through the kiosk API (a terminal's
key), the portal (the account's owners and admins) and the terminal's screens
(``kiosk_account``, ``operator``: conftest.py)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.errors import Conflict
from postroom.core.money import Money
from postroom.core.units import Weight
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.terminal import create_terminal_app

PIN = "246813"  # the ``operator`` fixture's
BADGE = "04A1B2C3D4E5"
PASSWORD = "correct horse battery staple"
TRACKED = "9400111201080805483016"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _api(client: FlaskClient, key: str, method: str, path: str, body=None, operator: str = ""):
    headers = {"Authorization": f"Bearer {key}"}
    if operator:
        headers["X-Kiosk-Operator"] = operator
    return client.open(f"/api/v1/kiosk{path}", method=method, json=body, headers=headers)


def _letter(key: str, center: str) -> dict[str, object]:
    return {
        "carrier": "usps",
        "service": "first-class-letter",
        "weight": {"value": "1", "unit": "oz"},
        "origin_zip": "10001",
        "cost_center": center,
        "idempotency_key": key,
    }


def test_a_terminal_signs_in_by_badge_books_within_the_operators_cost_centres_and_reports(
    client: FlaskClient,
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
) -> None:
    number = kiosk_account.number
    key = postroom.kiosks.issue_key(number, "Mailroom").token
    postroom.accounts.set_operator_badge(number, operator.id, BADGE)
    postroom.kiosks.set_operator_cost_centers(number, operator.id, ["Legal"])
    other = postroom.accounts.create("Other Co", "US", "USD").number
    stranger = postroom.accounts.add_operator(other, "Sam Stranger", "135792")
    postroom.accounts.set_operator_badge(other, stranger.id, "FOREIGN-0001")
    second = postroom.accounts.add_operator(number, "Bob Bell", "135792")
    with pytest.raises(Conflict):  # one badge per person in an account
        postroom.accounts.set_operator_badge(number, second.id, BADGE)

    foreign = _api(client, key, "POST", "/session/badge", {"badge": "FOREIGN-0001"})
    assert foreign.status_code == 401
    assert foreign.get_json()["error"]["code"] == "badge_other_account"
    unknown = _api(client, key, "POST", "/session/badge", {"badge": "NOBODY-0001"})
    assert unknown.get_json()["error"]["code"] == "unknown_badge"
    signed_in = _api(client, key, "POST", "/session/badge", {"badge": BADGE})
    assert signed_in.status_code == 201
    token = signed_in.get_json()["token"]
    me = _api(client, key, "GET", "/session", operator=token).get_json()["operator"]
    assert (me["name"], me["cost_centers"], me["badge"]) == ("Alice Martin", ["Legal"], True)

    before = postroom.ledger.balance(number).balances.available
    refused = _api(client, key, "POST", "/postage", _letter("k-sales", "Sales"), operator=token)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "cost_center_not_allowed"
    assert postroom.ledger.balance(number).balances.available == before  # nothing charged
    printed = _api(client, key, "POST", "/postage", _letter("k-legal", "Legal"), operator=token)
    assert printed.status_code == 201
    again = _api(client, key, "POST", "/postage", _letter("k-legal", "Legal"), operator=token)
    assert again.status_code == 200  # a retry: the same piece, logged once

    meter_piece = {
        "serial": "PM-100200",
        "piece": 41,
        "printed_at": postroom.clock.now().isoformat(),
        "postage": {"amount": "0.73", "currency": "USD"},
        "carrier": "usps",
        "service": "first-class-letter",
        "cost_center": "Legal",
        "operator": operator.id,
        "operator_name": "Alice Martin",
        "source": "meter",
    }
    assert _api(client, key, "POST", "/pieces", meter_piece).status_code == 201
    assert _api(client, key, "POST", "/pieces", meter_piece).status_code == 200
    changed = _api(client, key, "POST", "/pieces", {**meter_piece, "cost_center": "Sales"})
    assert changed.status_code == 409

    report = _api(client, key, "GET", "/report").get_json()
    assert len(report["pieces"]) == 2
    assert [(line["name"], line["pieces"]) for line in report["by_cost_center"]] == [("Legal", 2)]
    assert report["by_operator"][0]["name"] == "Alice Martin"
    assert report["total"]["amount"] == str(
        (Money.of(printed.get_json()["postage"]["amount"], "USD") + Money.parse("0.73 USD")).amount
    )

    case = {
        "operator_name": "Alice Martin",
        "subject": "The scale says over capacity",
        "description": "Nothing is on it.\nTerminal: Mailroom",
        "idempotency_key": "case-0123456789",
    }
    opened = _api(client, key, "POST", "/cases", case)
    assert opened.status_code == 201
    assert _api(client, key, "POST", "/cases", case).get_json() == opened.get_json()
    found = postroom.cases.get(number, opened.get_json()["number"])
    assert found.case.channel.value == "kiosk"

    notices = _api(client, key, "GET", "/notices").get_json()["notices"]
    assert [n["kind"] for n in notices] == ["funds_low"]  # 10 USD, below 20
    assert _api(client, key, "GET", f"/tracking/{TRACKED}").status_code == 404
    postroom.tracking.add(number, TRACKED)
    tracked = _api(client, key, "GET", f"/tracking/{TRACKED}").get_json()
    assert (tracked["number"], tracked["status"]) == (TRACKED, "pending")


def _person(postroom: Postroom, number: str, email: str, role: str) -> None:
    link = postroom.identity.invite(number, email, role)
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+1 202 555 0143",
        language="en",
    )


def _sign_in(client: FlaskClient, email: str) -> None:
    token = _csrf(client.get("/account/sign-in").text)
    answer = client.post(
        "/account/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 303


def test_an_admin_manages_operators_in_the_portal_and_others_get_404(
    app, postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    number = kiosk_account.number
    _person(postroom, number, "olga@example.com", "owner")
    _person(postroom, number, "ursula@example.com", "user")
    other = postroom.accounts.create("Other Co", "US", "USD").number
    theirs = postroom.accounts.add_operator(other, "Sam Stranger", "135792")

    user = app.test_client()
    _sign_in(user, "ursula@example.com")
    assert user.get("/account/kiosk/operators").status_code == 404
    assert user.get("/account/kiosk/report.csv").status_code == 404

    owner = app.test_client()
    _sign_in(owner, "olga@example.com")
    page = owner.get("/account/kiosk/operators").text
    assert "Alice Martin" in page
    assert "Sam Stranger" not in page
    token = _csrf(page)
    base = f"/account/kiosk/operators/{operator.id}"
    saved = owner.post(f"{base}/cost-centers", data={"csrf_token": token, "cost_center": "Sales"})
    assert saved.status_code == 303
    assert postroom.accounts.operator(number, operator.id).cost_centers == ("Sales",)
    owner.post(f"{base}/badge", data={"csrf_token": token, "badge": BADGE})
    assert postroom.accounts.operator(number, operator.id).has_badge
    unknown = owner.post(f"{base}/cost-centers", data={"csrf_token": token, "cost_center": "X"})
    assert unknown.status_code == 303  # refused with a message, nothing changed
    assert postroom.accounts.operator(number, operator.id).cost_centers == ("Sales",)
    foreign = f"/account/kiosk/operators/{theirs.id}/remove"
    assert owner.post(foreign, data={"csrf_token": token}).status_code == 404
    assert postroom.accounts.operators(other)  # still there

    signed_in = postroom.accounts.sign_in_operator(number, operator.id, PIN, kiosk="t")
    printed = postroom.meters.print_postage(
        number,
        "usps",
        "first-class-letter",
        Weight.of(1, "oz"),
        (),
        "Sales",
        "portal-1",
        origin_zip="10001",
        printed_by=signed_in.operator.label,
    )
    postroom.kiosks.log_printed(number, printed, signed_in.operator, "Mailroom")
    csv_text = owner.get("/account/kiosk/report.csv").text
    assert csv_text.startswith("printed_at,terminal,operator,cost_center")
    assert f",Mailroom,Alice Martin,Sales,usps,first-class-letter,{printed.serial}," in csv_text
    assert f"{printed.postage.decimal},USD" in csv_text
    assert "Alice Martin" in owner.get("/account/kiosk/report").text


def test_the_terminals_screens_beside_printing(
    postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    number = kiosk_account.number
    postroom.accounts.set_operator_badge(number, operator.id, BADGE)
    postroom.kiosks.set_operator_cost_centers(number, operator.id, ["Sales"])
    app = create_terminal_app(
        LocalDataCenter(postroom, number, "Mailroom"), secret_key="t", origin_zip="10001"
    )
    app.config["TESTING"] = True
    screen = app.test_client()
    page = screen.get("/sign-in").text
    wrong = screen.post("/sign-in/badge", data={"csrf_token": _csrf(page), "badge": "NOBODY-01"})
    assert wrong.status_code == 401
    assert "Unknown badge" in wrong.text
    signed = screen.post("/sign-in/badge", data={"csrf_token": _csrf(page), "badge": BADGE})
    assert signed.status_code == 303
    assert signed.headers["Location"].endswith("/weigh")

    weigh = screen.get("/weigh").text
    assert "postage funds are low" in weigh  # 10 USD left: the notice on every screen
    offers = screen.post(
        "/offers", data={"csrf_token": _csrf(weigh), "weight": "1", "unit": "oz", "source": "k"}
    ).text
    assert 'name="cost_center" value="Sales"' in offers
    assert 'value="Legal"' not in offers  # not hers

    assert "Nothing printed today yet." in screen.get("/report").text
    assert screen.get("/report.csv").text.startswith("printed_at,")
    postroom.tracking.add(number, TRACKED)
    track = screen.post("/track", data={"csrf_token": _csrf(weigh), "number": TRACKED})
    assert track.status_code == 200
    assert 'id="track-status"' in track.text
    help_page = screen.get("/help").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', help_page)
    assert key is not None
    form = {"csrf_token": _csrf(help_page), "subject": "Labels jam", "idempotency_key": key[1]}
    sent = screen.post("/help", data=form)
    assert sent.status_code == 201
    case_number = re.search(r"case number is ([A-Z0-9-]+)", sent.text)
    assert case_number is not None
    detail = postroom.cases.get(number, case_number[1])
    assert "Operator: Alice Martin" in detail.messages[0].body
    again = screen.post("/help", data=form)  # a double touch: the same case
    assert f"case number is {case_number[1]}" in again.text
    assert len(postroom.cases.list(number)) == 1
