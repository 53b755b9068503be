"""A customer's transfer ids are its own: another customer may choose the same id, and
neither learns from an answer that the other did (issue 11: a 409 transfer_id_reused used
to tell one customer that another had used an id)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.money import Money

V = "/api/v1/vault"


def usd(text: str) -> dict[str, str]:
    return {"amount": text, "currency": "USD"}


def funded(postroom: Postroom, name: str) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create(name, "US", "USD")
    postroom.ledger.open_postage_account(account.number)
    postroom.ledger.deposit(account.number, Money.parse("50.00 USD"), f"seed-{account.number}")
    token = postroom.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def two(postroom: Postroom) -> list[tuple[str, dict[str, str]]]:
    return [funded(postroom, "Acme Mailroom"), funded(postroom, "Rival Mailroom")]


def reserve(client: FlaskClient, headers: dict[str, str], tid: str, amount: str):
    body = {"id": tid, "amount": usd(amount)}
    return client.post(f"{V}/reservations", json=body, headers=headers)


def test_two_customers_may_choose_the_same_id(client, two):
    (_, acme), (_, rival) = two
    first = reserve(client, acme, "order-1", "1.00")
    second = reserve(client, rival, "order-1", "2.00")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["id"] == second.get_json()["id"] == "order-1"
    mine = client.get(f"{V}/transfers/order-1", headers=acme).get_json()
    theirs = client.get(f"{V}/transfers/order-1", headers=rival).get_json()
    assert (mine["amount"], theirs["amount"]) == (usd("1.00"), usd("2.00"))


def test_a_reused_id_conflicts_only_with_the_callers_own_transfer(client, two):
    (_, acme), (_, rival) = two
    assert reserve(client, acme, "order-2", "1.00").status_code == 201
    assert reserve(client, acme, "order-2", "1.00").status_code == 200  # a replay
    clash = reserve(client, acme, "order-2", "3.00")
    assert clash.status_code == 409
    assert clash.get_json()["error"]["code"] == "transfer_id_reused"
    assert reserve(client, rival, "order-2", "3.00").status_code == 201


def test_a_reservation_is_posted_and_voided_by_the_ids_the_customer_chose(client, two):
    (_, acme), (_, rival) = two
    reserve(client, acme, "hold-1", "1.00")
    reserve(client, rival, "hold-1", "1.00")
    posted = client.post(f"{V}/reservations/hold-1/post", json={"id": "take-1"}, headers=acme)
    assert posted.status_code == 201
    assert (posted.get_json()["id"], posted.get_json()["pending_id"]) == ("take-1", "hold-1")
    voided = client.post(f"{V}/reservations/hold-1/void", json={"id": "drop-1"}, headers=rival)
    assert voided.status_code == 201
    history = client.get(f"{V}/transfers", headers=acme).get_json()["items"]
    assert {"hold-1", "take-1"} <= {item["id"] for item in history}
    assert "drop-1" not in {item["id"] for item in history}


def test_an_id_written_before_ids_were_scoped_is_still_the_customers(client, two, postroom):
    (number, acme), _ = two
    # a reservation made under its bare id, as every id was before
    postroom.ledger.reserve_postage(number, Money.parse("1.00 USD"), "legacy-1")
    found = client.get(f"{V}/transfers/legacy-1", headers=acme)
    assert found.status_code == 200
    again = reserve(client, acme, "legacy-1", "1.00")
    assert again.status_code == 200  # the same hold, not a second one
    balance = client.get(f"{V}/balance", headers=acme).get_json()
    assert balance["reserved"] == usd("1.00")


def test_a_longer_id_than_a_customer_may_choose_is_refused(client, two):
    (_, acme), _ = two
    refused = reserve(client, acme, "x" * 54, "1.00")
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "invalid_transfer_id"
    assert client.get(f"{V}/transfers/{'x' * 60}", headers=acme).status_code == 404
