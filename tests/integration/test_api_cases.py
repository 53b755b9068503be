"""/api/v1/cases with customer API keys: open, list, show, write, close; another
account's case is 404 on every endpoint; internal notes never leave; bad bodies answer
the document's codes; markup comes back as data, never as a page."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.cases.model import Actor
from postroom.core.money import Money

AGENT = Actor.staff(1, "Alex Agent")


@pytest.fixture
def keys(postroom: Postroom) -> dict[str, Any]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD")
    theirs = postroom.accounts.create("Other Mailroom", "US", "USD")
    return {
        "mine": mine.number,
        "theirs": theirs.number,
        "mine_key": postroom.accounts.create_api_key(mine.number).token,
        "theirs_key": postroom.accounts.create_api_key(theirs.number).token,
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_case(client: FlaskClient, token: str, **body: Any) -> Any:
    response = client.post(
        "/api/v1/cases",
        json={"subject": "Meter jams", "description": "After ten pieces", **body},
        headers=auth(token),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_customer_opens_lists_reads_writes_and_closes(
    client: FlaskClient, postroom: Postroom, keys: dict[str, Any]
) -> None:
    opened = open_case(
        client, keys["mine_key"], priority="high", links=[{"kind": "meter", "reference": "PR-1"}]
    )
    number = opened["number"]
    assert opened["channel"] == "web"
    assert opened["department"] == "equipment"
    assert opened["sla"]["first_response_due"].endswith("Z")
    assert "assignee_id" not in opened
    postroom.cases.add_note(number, "internal: customer is on firmware 3", by=AGENT)
    postroom.cases.reply(number, "Please update", by=AGENT, status="waiting_on_customer")

    listed = client.get("/api/v1/cases", headers=auth(keys["mine_key"])).get_json()
    assert [c["number"] for c in listed["items"]] == [number]
    shown = client.get(f"/api/v1/cases/{number}", headers=auth(keys["mine_key"])).get_json()
    assert [m["kind"] for m in shown["messages"]] == ["customer", "agent"]
    assert "firmware 3" not in str(shown)
    assert shown["sla"]["paused"] is True

    written = client.post(
        f"/api/v1/cases/{number}/messages", json={"body": "Done"}, headers=auth(keys["mine_key"])
    )
    assert written.status_code == 201
    assert written.get_json()["status"] == "open"
    assert written.get_json()["follow_up"] is False

    closed = client.post(f"/api/v1/cases/{number}/close", headers=auth(keys["mine_key"]))
    assert closed.get_json()["status"] == "closed"
    again = client.post(
        f"/api/v1/cases/{number}/messages",
        json={"body": "One more"},
        headers=auth(keys["mine_key"]),
    ).get_json()
    assert again["follow_up"] is True
    assert again["number"] != number
    assert {"kind": "case", "reference": number} in again["links"]


def test_another_accounts_case_is_404_on_every_endpoint(
    client: FlaskClient, keys: dict[str, Any]
) -> None:
    number = open_case(client, keys["mine_key"])["number"]
    theirs = auth(keys["theirs_key"])
    for response in (
        client.get(f"/api/v1/cases/{number}", headers=theirs),
        client.post(f"/api/v1/cases/{number}/messages", json={"body": "hi"}, headers=theirs),
        client.post(f"/api/v1/cases/{number}/close", headers=theirs),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "case_not_found"
    assert client.get("/api/v1/cases", headers=theirs).get_json() == {"items": []}
    missing = client.get("/api/v1/cases/C-2026-999999", headers=theirs)
    assert missing.status_code == 404
    assert client.get(f"/api/v1/cases/{number}").status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"description": "x"}, "missing_field"),
        ({"subject": "", "description": "x"}, "missing_subject"),
        ({"subject": "x" * 201, "description": "x"}, "subject_too_long"),
        ({"subject": "x", "description": "x", "priority": "asap"}, "invalid_priority"),
        ({"subject": "x", "description": "x", "channel": "phone"}, "unknown_field"),
        (
            {"subject": "x", "description": "x", "links": [{"kind": "parcel", "reference": "1"}]},
            "invalid_link",
        ),
        ({"subject": "bell\u0007", "description": "x"}, "control_character"),
    ],
)
def test_bad_bodies_answer_stable_codes(
    client: FlaskClient, keys: dict[str, Any], body: dict[str, Any], code: str
) -> None:
    response = client.post("/api/v1/cases", json=body, headers=auth(keys["mine_key"]))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == code


def test_bad_queries_answer_stable_codes(client: FlaskClient, keys: dict[str, Any]) -> None:
    for query, code in (("limit=0", "invalid_limit"), ("status=lost", "invalid_status")):
        response = client.get(f"/api/v1/cases?{query}", headers=auth(keys["mine_key"]))
        assert response.status_code == 422
        assert response.get_json()["error"]["code"] == code


def test_markup_is_kept_as_text(client: FlaskClient, keys: dict[str, Any]) -> None:
    opened = open_case(client, keys["mine_key"], subject="<script>alert(1)</script>")
    response = client.get(f"/api/v1/cases/{opened['number']}", headers=auth(keys["mine_key"]))
    assert response.content_type.startswith("application/json")
    assert response.get_json()["subject"] == "<script>alert(1)</script>"


def test_a_customer_sees_the_documents_their_claim_still_needs(
    client: FlaskClient, postroom: Postroom, keys: dict[str, Any]
) -> None:
    view = postroom.cases.file_claim(
        by=Actor.customer(keys["mine"], 1, "Chris"),
        tracking_number="9400100000000000000555",
        kind="damaged",
        declared_value=Money.parse("25.00 USD"),
        description="Crushed box",
    )
    number = view.case.number
    claim = client.get(f"/api/v1/cases/{number}/claim", headers=auth(keys["mine_key"]))
    assert claim.status_code == 200
    assert [m["document"] for m in claim.get_json()["missing"]] == [
        "proof_of_mailing",
        "shipment_details",
        "proof_of_value",
        "damage_photos",
    ]
    theirs = client.get(f"/api/v1/cases/{number}/claim", headers=auth(keys["theirs_key"]))
    assert theirs.status_code == 404
    plain = open_case(client, keys["mine_key"])["number"]
    none = client.get(f"/api/v1/cases/{plain}/claim", headers=auth(keys["mine_key"]))
    assert none.status_code == 404
    assert none.get_json()["error"]["code"] == "claim_not_found"
