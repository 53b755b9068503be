"""``/api/v1/postage``: PC postage printed on the account's virtual meter."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.clock import today
from postroom.core.meters.printing import verify_indicium
from postroom.core.money import Money

P = "/api/v1/postage"


def _customer(postroom: Postroom, name: str) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create(name, "US", "USD")
    token = postroom.accounts.create_api_key(account.number, "test").token
    postroom.ledger.deposit(account.number, Money.parse("10 USD"), f"dep-{account.number}")
    return account.number, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def customer(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return _customer(postroom, "Acme Mailroom")


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "carrier": "usps",
        "service": "first-class-letter",
        "weight": "1oz",
        "origin_zip": "10001",
        "cost_center": "Legal",
        "idempotency_key": "order-1",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_printing_answers_the_signed_piece_and_its_indicium_images(
    client: FlaskClient, postroom: Postroom, customer: tuple[str, dict[str, str]]
) -> None:
    number, auth = customer
    response = client.post(P, json=body(), headers=auth)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    serial = f"V{number}"
    assert (data["serial"], data["piece"], data["cost_center"]) == (serial, 1, "Legal")
    assert data["links"]["indicium_png"] == f"{P}/{serial}/1/indicium.png"
    balance = postroom.ledger.balance(number).balances.balance
    assert balance == 10_000 - data["postage_mills"]

    again = client.post(P, json=body(), headers=auth)
    assert again.status_code == 200
    assert again.get_json()["signature"] == data["signature"]
    assert postroom.ledger.balance(number).balances.balance == balance

    key = postroom.meters.get(serial).public_key_pem
    assert key is not None
    for link, media in (("indicium_png", "image/png"), ("indicium_svg", "image/svg+xml")):
        image = client.get(data["links"][link], headers=auth)
        assert image.status_code == 200
        assert image.mimetype == media
        check = verify_indicium(image.data, key, today=today(postroom.clock), serial=serial)
        assert check.valid
        assert check.record is not None
        assert check.record.to_bytes().hex() == data["payload"]
    shown = client.get(data["links"]["self"], headers=auth).get_json()
    assert shown["signature"] == data["signature"]


def test_another_accounts_piece_is_404(
    client: FlaskClient, postroom: Postroom, customer: tuple[str, dict[str, str]]
) -> None:
    data = client.post(P, json=body(), headers=customer[1]).get_json()
    _, rival = _customer(postroom, "Rival Mailroom")
    for link in data["links"].values():
        response = client.get(link, headers=rival)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "piece_not_found"


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"weight": "heavy"}, 422, "invalid_weight"),
        ({"weight": None}, 422, "missing_field"),
        ({"idempotency_key": None}, 422, "missing_field"),
        ({"idempotency_key": "has space"}, 422, "invalid_idempotency_key"),
        ({"service": "no-such"}, 404, "unknown_service"),
        ({"origin_zip": "?"}, 422, "invalid_zip"),
        ({"cost_center": 7}, 422, "invalid_cost_center"),
        ({"extras": "certified"}, 422, "invalid_extras"),
        ({"colour": "red"}, 422, "unknown_field"),
        ({"weight": "70lb"}, 422, "over_limit"),
    ],
)
def test_bad_input_gets_a_stable_code_and_charges_nothing(
    client: FlaskClient,
    postroom: Postroom,
    customer: tuple[str, dict[str, str]],
    changes: dict[str, Any],
    status: int,
    code: str,
) -> None:
    number, auth = customer
    response = client.post(P, json=body(**changes), headers=auth)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    assert postroom.ledger.balance(number).balances.balance == 10_000


def test_a_reused_key_and_missing_funds_are_conflicts(
    client: FlaskClient, postroom: Postroom, customer: tuple[str, dict[str, str]]
) -> None:
    auth = customer[1]
    assert client.post(P, json=body(), headers=auth).status_code == 201
    reused = client.post(P, json=body(cost_center="Sales"), headers=auth)
    assert reused.status_code == 409
    assert reused.get_json()["error"]["code"] == "idempotency_key_reused"
    account = postroom.accounts.create("Empty Mailroom", "US", "USD")
    token = postroom.accounts.create_api_key(account.number, "test").token
    broke = client.post(P, json=body(), headers={"Authorization": f"Bearer {token}"})
    assert broke.status_code == 409
    assert broke.get_json()["error"]["code"] == "insufficient_funds"


def test_without_an_api_key_nothing_prints(client: FlaskClient) -> None:
    response = client.post(P, json=body())
    assert response.status_code == 401
