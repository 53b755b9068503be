"""``/api/v1/shipments``: an account follows numbers, reads its shipments and their
journeys, refreshes them and hands them to support; every endpoint answers 404 for
another account's shipment, and bad input answers its code without writing."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom

NUMBER = "9400 1112 0108 0805 4830 16"


@pytest.fixture
def keys(postroom: Postroom) -> dict[str, dict[str, str]]:
    made = {}
    for name in ("mine", "other"):
        account = postroom.accounts.create(f"{name} mailroom", "US", "USD")
        token = postroom.accounts.create_api_key(account.number).token
        made[name] = {"Authorization": f"Bearer {token}"}
    return made


def follow(client: FlaskClient, headers: dict[str, str], **body: object) -> dict:
    response = client.post("/api/v1/shipments", json={"number": NUMBER, **body}, headers=headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def test_an_account_follows_reads_refreshes_and_asks_support(
    client: FlaskClient, postroom: Postroom, keys: dict[str, dict[str, str]]
) -> None:
    mine = keys["mine"]
    created = client.post(
        "/api/v1/shipments",
        json={
            "number": NUMBER,
            "service": "Priority Mail",
            "recipient": "Ann Smith",
            "reference": "ORDER-7",
            "mailed_on": "2026-03-01",
            "customs": {
                "contents": "Books",
                "hs_codes": ["4901.99"],
                "value": {"amount": "45.00", "currency": "USD"},
            },
        },
        headers=mine,
    )
    assert created.status_code == 201
    shipment = created.get_json()
    assert (shipment["number"], shipment["carrier"]) == ("9400111201080805483016", "sandbox")
    assert shipment["status"]["code"] == "pending"
    again = client.post("/api/v1/shipments", json={"number": NUMBER}, headers=mine)
    assert again.status_code == 200
    assert again.get_json()["id"] == shipment["id"]
    url = f"/api/v1/shipments/{shipment['id']}"
    assert client.get(url, headers=mine).get_json()["reference"] == "ORDER-7"
    refreshed = client.post(f"{url}/refresh", headers=mine).get_json()
    assert refreshed["checked_at"] is not None
    events = client.get(f"{url}/events", headers=mine).get_json()["items"]
    assert all(event["time"][-6] in "+-" for event in events)
    listed = client.get("/api/v1/shipments", headers=mine).get_json()["items"]
    assert [s["id"] for s in listed] == [shipment["id"]]
    french = client.get(url, headers={**mine, "Accept-Language": "fr"}).get_json()
    assert french["status"]["title"] != shipment["status"]["title"]
    support = client.post(f"{url}/support", json={"kind": "lost", "note": "not here"}, headers=mine)
    assert support.status_code == 201
    case = postroom.cases.get(shipment["customer_number"], support.get_json()["reference"]).case
    assert case.subject == "Lost parcel: 9400111201080805483016"


def test_another_accounts_shipment_is_404_on_every_endpoint(
    client: FlaskClient, keys: dict[str, dict[str, str]]
) -> None:
    shipment = follow(client, keys["mine"])
    url = f"/api/v1/shipments/{shipment['id']}"
    other = keys["other"]
    for response in (
        client.get(url, headers=other),
        client.get(f"{url}/events", headers=other),
        client.post(f"{url}/refresh", headers=other),
        client.post(f"{url}/support", json={"kind": "trace"}, headers=other),
        client.get("/api/v1/shipments/99999", headers=keys["mine"]),
        client.get("/api/v1/shipments/²", headers=keys["mine"]),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "shipment_not_found"
    assert client.get("/api/v1/shipments", headers=other).get_json()["items"] == []
    assert client.get(url).status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"number": "9400111201080805483017"}, "bad_check_digit"),
        ({"number": "RB123456785XX"}, "unknown_country"),
        ({"number": "hello"}, "unknown_format"),
        ({"number": "x" * 61}, "unknown_format"),
        ({"number": NUMBER, "recipient": "Ann\u0007"}, "invalid_recipient"),
        ({"number": NUMBER, "mailed_on": "yesterday"}, "invalid_mailed_on"),
        ({"number": NUMBER, "carrier": "pigeon"}, "unknown_carrier"),
        (
            {
                "number": NUMBER,
                "customs": {"contents": "x", "value": {"amount": "1.0.0", "currency": "USD"}},
            },
            "invalid_amount",
        ),
        ({"number": NUMBER, "surprise": 1}, "unknown_field"),
    ],
)
def test_bad_input_answers_its_code_and_writes_nothing(
    client: FlaskClient, keys: dict[str, dict[str, str]], body: dict, code: str
) -> None:
    response = client.post("/api/v1/shipments", json=body, headers=keys["mine"])
    assert response.status_code in (404, 422), response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert client.get("/api/v1/shipments", headers=keys["mine"]).get_json()["items"] == []
