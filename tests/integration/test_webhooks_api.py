"""``/api/v1/webhooks``: an account's API key creates, lists, reads and deletes its own
webhook subscriptions (the secret shown once); another account's subscription answers
404; keys that are not a customer's are refused; URLs that reach inside are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.config import Config

HOOK = "http://127.0.0.1:9/hooks"


@pytest.fixture
def config(database_url: str, data_dir: Path) -> Config:
    """Loopback receivers allowed, as in development (the metadata address never is)."""
    return Config.load(
        {}, data_dir=data_dir, database_url=database_url, secret_key="test-secret",
        webhooks_allow_private=True,
    )  # fmt: skip


@pytest.fixture
def keys(postroom: Postroom) -> dict[str, dict[str, str]]:
    made = {}
    for name in ("mine", "other"):
        account = postroom.accounts.create(f"{name} mailroom", "US", "USD")
        token = postroom.accounts.create_api_key(account.number).token
        made[name] = {"Authorization": f"Bearer {token}"}
        kiosk = postroom.kiosks.issue_key(account.number, "Front desk").token
        made[f"{name}_kiosk"] = {"Authorization": f"Bearer {kiosk}"}
    return made


def test_an_account_manages_its_own_subscriptions_and_nobody_else_can(
    client: FlaskClient, keys: dict[str, dict[str, str]]
) -> None:
    mine, other = keys["mine"], keys["other"]
    body = {"url": HOOK, "events": ["delivered", "exception"]}
    made = client.post("/api/v1/webhooks", json=body, headers=mine)
    assert made.status_code == 201, made.get_json()
    created = made.get_json()
    assert len(created["secret"]) == 64
    assert created["events"] == ["delivered", "exception"]
    url = f"/api/v1/webhooks/{created['id']}"
    shown = client.get(url, headers=mine).get_json()
    assert "secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    assert client.get("/api/v1/webhooks", headers=mine).get_json()["items"] == [shown]
    for response in (
        client.get(url, headers=other),
        client.delete(url, headers=other),
        client.get("/api/v1/webhooks/99999", headers=mine),
        client.get("/api/v1/webhooks/abc", headers=mine),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "subscription_not_found"
    assert client.get("/api/v1/webhooks", headers=other).get_json()["items"] == []
    for refused in ({}, keys["mine_kiosk"]):  # no key; a terminal's key is not the account's
        assert client.post("/api/v1/webhooks", json=body, headers=refused).status_code == 401
        assert client.delete(url, headers=refused).status_code == 401
    shipment = client.post(
        "/api/v1/shipments", json={"number": "9400 1112 0108 0805 4830 16"}, headers=other
    ).get_json()
    theirs = client.post(
        "/api/v1/webhooks", json={"url": HOOK, "shipment_id": shipment["id"]}, headers=mine
    )
    assert theirs.status_code == 404
    assert theirs.get_json()["error"]["code"] == "shipment_not_found"
    assert client.delete(url, headers=mine).status_code == 204
    assert client.get(url, headers=mine).status_code == 404
    assert client.get("/api/v1/webhooks", headers=mine).get_json()["items"] == []


BAD = [
    ({"url": "http://169.254.169.254/latest/meta-data"}, "webhook_address_refused"),
    ({"url": "ftp://127.0.0.1/x"}, "invalid_webhook_url"),
    ({"url": "https://user:pw@127.0.0.1/x"}, "invalid_webhook_url"),
    ({"url": HOOK, "events": ["shipped"]}, "invalid_events"),
    ({"url": HOOK, "events": "delivered"}, "invalid_events"),
    ({"url": HOOK, "shipment_id": "1"}, "shipment_not_found"),
    ({"url": HOOK, "secret": "mine"}, "unknown_field"),
    ({}, "missing_field"),
]


def test_bad_input_answers_its_code_and_subscribes_nothing(
    client: FlaskClient, keys: dict[str, dict[str, str]]
) -> None:
    for body, code in BAD:
        response = client.post("/api/v1/webhooks", json=body, headers=keys["mine"])
        assert response.status_code in (400, 404, 422), (body, response.get_json())
        assert response.get_json()["error"]["code"] == code, body
    assert client.get("/api/v1/webhooks", headers=keys["mine"]).get_json()["items"] == []
