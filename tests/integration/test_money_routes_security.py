"""Money enters only by payment or by an authorised person (issue 11, item 1): for every
money-moving route of the JSON API, a customer key cannot move money it has not paid,
and another account's objects answer 404. docs/security.md lists these tests by route.

The state each test checks afterwards is the ledger itself (balances and ``verify``),
not only the status code: a refusal that still wrote a transfer would fail here.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.money import Money

V = "/api/v1/vault"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
DECLINED = {**CARD, "number": "4000000000000002"}


def usd(text: str) -> dict[str, str]:
    return {"amount": text, "currency": "USD"}


def _customer(postroom: Postroom, name: str) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create(name, "US", "USD")
    token = postroom.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def customer(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return _customer(postroom, "Acme Mailroom")


@pytest.fixture
def rival(postroom: Postroom) -> tuple[str, dict[str, str]]:
    """Another customer with funds, a card, a meter and a reservation to aim at."""
    number, headers = _customer(postroom, "Rival Mailroom")
    postroom.funding.manual_deposit(
        number, Money.parse("100 USD"), "rival-dep", staff="staff", reason="cheque 1 received"
    )
    postroom.meters.funds.register_meter("RIVAL-1", number, "USPS")
    return number, headers


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def _balance(postroom: Postroom, number: str) -> int:
    return postroom.ledger.balance(number).balances.balance


def _unfunded(postroom: Postroom, number: str) -> None:
    """The customer's postage account holds nothing and the ledger verifies."""
    postroom.ledger.open_postage_account(number)
    assert _balance(postroom, number) == 0
    assert postroom.ledger.verify().ok


def _card(client: FlaskClient, headers: dict[str, str], fields: dict[str, str]) -> str:
    response = client.post(
        f"{V}/instruments", json={"source": "sandbox-card", "fields": fields}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def test_a_customer_key_cannot_deposit_and_so_cannot_print_unpaid_postage(
    client, postroom, customer
):
    # The attack of issue 11: a customer's own key credited a million and printed with it.
    number, headers = customer
    body = {"id": "free-1", "amount": usd("1000000.00")}
    response = client.post(f"{V}/deposits", json=body, headers=headers)
    assert response.status_code == 404  # no such route: money enters by payment only
    _unfunded(postroom, number)
    printed = client.post(
        "/api/v1/postage",
        json={
            "carrier": "usps",
            "service": "first-class-letter",
            "weight": "1oz",
            "origin_zip": "10001",
            "idempotency_key": "order-1",
        },
        headers=headers,
    )
    assert printed.status_code in (402, 409), printed.get_json()
    assert printed.get_json()["error"]["code"] == "insufficient_funds"
    _unfunded(postroom, number)


def test_the_openapi_document_offers_no_deposit(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert not any(path.endswith("/deposits") for path in paths)


def test_payments_credit_only_an_accepted_charge_on_the_callers_own_instrument(
    client, postroom, customer, rival
):
    number, headers = customer
    rival_number, rival_headers = rival
    rival_card = _card(client, rival_headers, CARD)
    declined = _card(client, headers, DECLINED)
    theirs = {"id": "p1", "instrument_id": rival_card, "amount": usd("50.00")}
    assert _error(client.post(f"{V}/payments", json=theirs, headers=headers)) == (
        404,
        "instrument_not_found",
    )
    refused = {"id": "p2", "instrument_id": declined, "amount": usd("50.00")}
    assert _error(client.post(f"{V}/payments", json=refused, headers=headers)) == (
        402,
        "card_declined",
    )
    _unfunded(postroom, number)
    assert _balance(postroom, rival_number) == 100_000  # and the rival's card was not charged
    assert postroom.funding.payments(rival_number) == []


def test_a_customer_cannot_grant_itself_a_credit_line(client, postroom, customer):
    number, headers = customer
    body = {"source": "postage-credit-line", "fields": {"limit": "1000000", "currency": "USD"}}
    response = client.post(f"{V}/instruments", json=body, headers=headers)
    assert _error(response) == (403, "source_not_self_service")
    assert postroom.funding.instruments(number) == []


def test_another_accounts_instrument_cannot_be_seen_removed_or_used_by_auto_refill(
    client, postroom, customer, rival
):
    number, headers = customer
    _, rival_headers = rival
    rival_card = _card(client, rival_headers, CARD)
    assert _error(client.get(f"{V}/instruments/{rival_card}", headers=headers))[0] == 404
    assert _error(client.delete(f"{V}/instruments/{rival_card}", headers=headers))[0] == 404
    rule = {"threshold": usd("10.00"), "amount": usd("500.00"), "instrument_id": rival_card}
    assert _error(client.put(f"{V}/auto-refill", json=rule, headers=headers))[0] == 404
    assert postroom.funding.auto_refill(number) is None
    _unfunded(postroom, number)


def test_refills_move_only_paid_funds_into_the_callers_own_meters(
    client, postroom, customer, rival
):
    number, headers = customer
    rival_number, _ = rival
    postroom.meters.funds.register_meter("PB-1", number, "USPS")
    unpaid = client.post(
        f"{V}/meters/PB-1/refills", json={"id": "r1", "amount": usd("50.00")}, headers=headers
    )
    assert _error(unpaid) == (409, "insufficient_funds")
    theirs = client.post(
        f"{V}/meters/RIVAL-1/refills", json={"id": "r2", "amount": usd("5.00")}, headers=headers
    )
    assert _error(theirs) == (404, "meter_not_found")
    assert postroom.meters.funds.registers("PB-1").descending == 0
    assert postroom.meters.funds.registers("RIVAL-1").descending == 0
    assert _balance(postroom, rival_number) == 100_000
    _unfunded(postroom, number)


def test_reservations_hold_only_paid_funds_and_another_accounts_answer_404(
    client, postroom, customer, rival
):
    number, headers = customer
    rival_number, rival_headers = rival
    postroom.ledger.open_postage_account(number)
    unpaid = client.post(
        f"{V}/reservations", json={"id": "h1", "amount": usd("5.00")}, headers=headers
    )
    assert _error(unpaid) == (409, "insufficient_funds")
    held = client.post(
        f"{V}/reservations", json={"id": "rival-h1", "amount": usd("5.00")}, headers=rival_headers
    )
    assert held.status_code == 201
    for action in ("post", "void"):
        response = client.post(
            f"{V}/reservations/rival-h1/{action}", json={"id": f"x-{action}"}, headers=headers
        )
        assert response.status_code == 404, (action, response.get_json())
    rival_balance = postroom.ledger.balance(rival_number).balances
    assert (rival_balance.balance, rival_balance.debits_pending) == (100_000, 5_000)
    _unfunded(postroom, number)


def test_refund_requests_claim_only_printed_pieces_of_the_callers_meters(
    client, postroom, customer, rival
):
    number, headers = customer
    pieces = [{"piece": 1, "face": usd("0.73"), "indicium_date": "2026-03-01"}]
    theirs = client.post(
        f"{V}/refunds",
        json={"id": "rf1", "meter": "RIVAL-1", "reason": "spoiled", "pieces": pieces},
        headers=headers,
    )
    assert theirs.status_code == 404
    by_number = client.post(
        "/api/v1/meters/RIVAL-1/refunds",
        json={"id": "rf2", "reason": "spoiled", "pieces": [1]},
        headers=headers,
    )
    assert by_number.status_code == 404
    postroom.meters.funds.register_meter("PB-1", number, "USPS")
    never_printed = client.post(
        f"{V}/refunds",
        json={"id": "rf3", "meter": "PB-1", "reason": "spoiled", "pieces": pieces},
        headers=headers,
    )
    assert _error(never_printed) == (422, "piece_not_printed")
    # (A printed piece's refund is only "requested": an agent approves it on the CLI.)
    _unfunded(postroom, number)


def test_a_customer_key_cannot_speak_for_a_meter(client, postroom, customer, rival):
    # The sync conversation books a meter's usage and applies its refills: meter key only.
    _, headers = customer
    for step in ("begin", "finish"):
        response = client.post(f"/api/v1/meters/sync/{step}", json={}, headers=headers)
        assert response.status_code == 401, (step, response.get_json())
    assert postroom.meters.funds.registers("RIVAL-1").descending == 0
