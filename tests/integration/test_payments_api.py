"""Funding through /api/v1/vault: instruments, payments, auto-refill, statements; a
customer sees only its own objects."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.money import Money

V = "/api/v1/vault"
CARD = {"number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}


def usd(text: str) -> dict[str, str]:
    return {"amount": text, "currency": "USD"}


def headers_for(postroom: Postroom, name: str) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create(name, "US", "USD")
    token = postroom.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def customer(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return headers_for(postroom, "Acme Mailroom")


@pytest.fixture
def other(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return headers_for(postroom, "Rival Mailroom")


def add_card(client: FlaskClient, headers: dict[str, str], **changes: str) -> dict:
    response = client.post(
        f"{V}/instruments", json={"source": "sandbox-card", "fields": {**CARD, **changes}},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def error(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_routes_need_a_key(client):
    for path in ("/payment-sources", "/instruments", "/payments", "/auto-refill"):
        assert client.get(V + path).status_code == 401


def test_sources_card_and_payment(client, customer):
    _, headers = customer
    sources = client.get(f"{V}/payment-sources", headers=headers).get_json()["items"]
    assert {"sandbox-card", "ach-debit", "sepa-debit"} <= {s["code"] for s in sources}
    card = add_card(client, headers)
    assert card["label"] == "Visa ...4242 exp 12/2030"
    assert "4242424242424242" not in str(card)
    assert client.get(f"{V}/instruments", headers=headers).get_json()["items"] == [card]
    body = {"id": "pay-1", "instrument_id": card["id"], "amount": usd("25.00")}
    response = client.post(f"{V}/payments", json=body, headers=headers)
    assert response.status_code == 201
    paid = response.get_json()
    assert (paid["status"], paid["amount"]) == ("settled", usd("25.00"))
    again = client.post(f"{V}/payments", json=body, headers=headers)
    # a replay answers 200 with the first payment, like every other replay; nothing charged
    assert (again.status_code, again.get_json()) == (200, paid)
    reused = client.post(f"{V}/payments", json={**body, "amount": usd("26.00")}, headers=headers)
    assert error(reused) == (409, "idempotency_key_reused")
    assert client.get(f"{V}/payments/{paid['id']}", headers=headers).get_json() == paid
    balance = client.get(f"{V}/balance", headers=headers).get_json()
    assert Money.from_json(balance["balance"]) == Money.parse("25 USD")
    listed = client.get(f"{V}/payments", headers=headers).get_json()
    assert [p["id"] for p in listed["items"]] == [paid["id"]]


def test_declined_card_is_402_with_its_code_and_recorded(client, customer):
    _, headers = customer
    card = add_card(client, headers, number="4000000000000002")
    response = client.post(
        f"{V}/payments", json={"id": "p", "instrument_id": card["id"], "amount": usd("5")},
        headers=headers,
    )  # fmt: skip
    assert error(response) == (402, "card_declined")
    (failed,) = client.get(f"{V}/payments", headers=headers).get_json()["items"]
    assert (failed["status"], failed["failure_code"]) == ("failed", "card_declined")


def test_another_accounts_objects_answer_404(client, customer, other):
    _, headers = customer
    _, rival = other
    card = add_card(client, headers)
    paid = client.post(
        f"{V}/payments", json={"id": "p", "instrument_id": card["id"], "amount": usd("5")},
        headers=headers,
    ).get_json()  # fmt: skip
    assert error(client.get(f"{V}/instruments/{card['id']}", headers=rival)) == (
        404,
        "instrument_not_found",
    )
    assert error(client.delete(f"{V}/instruments/{card['id']}", headers=rival))[0] == 404
    assert error(client.get(f"{V}/payments/{paid['id']}", headers=rival)) == (
        404,
        "payment_not_found",
    )
    theirs = client.post(
        f"{V}/payments", json={"id": "p", "instrument_id": card["id"], "amount": usd("5")},
        headers=rival,
    )  # fmt: skip
    assert error(theirs) == (404, "instrument_not_found")
    assert client.get(f"{V}/payments", headers=rival).get_json()["items"] == []
    put = client.put(
        f"{V}/auto-refill",
        json={"threshold": usd("10"), "amount": usd("20"), "instrument_id": card["id"]},
        headers=rival,
    )
    assert error(put) == (404, "instrument_not_found")
    assert client.get(f"{V}/instruments/{card['id']}", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": "p", "amount": usd("5")}, (422, "missing_field")),
        ({"id": "p", "instrument_id": "pi_x", "amount": usd("5")}, (404, "instrument_not_found")),
        ({"id": "p", "instrument_id": "{card}", "amount": usd("0")}, (422, "invalid_amount")),
        ({"id": "p", "instrument_id": "{card}", "amount": usd("-1")}, (422, "invalid_amount")),
        ({"id": "p", "instrument_id": "{card}", "amount": 5.0}, (422, "amount_not_a_string")),
        (
            {"id": "p", "instrument_id": "{card}", "amount": {"amount": 5, "currency": "USD"}},
            (422, "amount_not_a_string"),
        ),
        (
            {"id": "p", "instrument_id": "{card}", "amount": {"amount": "5", "currency": "EUR"}},
            (409, "currency_mismatch"),
        ),
        (
            {"id": "", "instrument_id": "{card}", "amount": usd("5")},
            (422, "invalid_idempotency_key"),
        ),
    ],
)
def test_bad_payments_are_clear_errors_and_write_nothing(client, customer, body, expected):
    _, headers = customer
    card = add_card(client, headers)
    if body.get("instrument_id") == "{card}":
        body = {**body, "instrument_id": card["id"]}
    assert error(client.post(f"{V}/payments", json=body, headers=headers)) == expected
    assert client.get(f"{V}/payments", headers=headers).get_json()["items"] == []


def test_instrument_errors(client, customer):
    _, headers = customer
    cases = [
        ({"source": "sandbox-card", "fields": {**CARD, "number": "4242424242424241"}},
         (422, "luhn_check_failed")),
        ({"source": "sandbox-card", "fields": {**CARD, "exp_year": "2025"}}, (422, "card_expired")),
        ({"source": "nope", "fields": {}}, (404, "unknown_payment_source")),
        ({"source": "postage-credit-line", "fields": {"limit": "100000"}},
         (403, "source_not_self_service")),
        ({"source": "sepa-debit", "fields": {}}, (422, "currency_not_supported")),
        ({"source": "sandbox-card", "fields": {"number": 4242}}, (422, "invalid_instrument")),
    ]  # fmt: skip
    for body, expected in cases:
        assert error(client.post(f"{V}/instruments", json=body, headers=headers)) == expected
    assert client.get(f"{V}/instruments", headers=headers).get_json()["items"] == []


def test_auto_refill_rule(client, customer):
    _, headers = customer
    assert client.get(f"{V}/auto-refill", headers=headers).get_json() == {"enabled": False}
    card = add_card(client, headers)
    rule = {
        "threshold": usd("20.00"),
        "amount": usd("50.00"),
        "daily_cap": usd("100.00"),
        "instrument_id": card["id"],
    }
    response = client.put(f"{V}/auto-refill", json=rule, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["enabled"] is True
    assert client.get(f"{V}/auto-refill", headers=headers).get_json()["daily_cap"] == usd("100.00")
    # The balance is 0, below the threshold: the periodic job refills once.
    in_use = client.delete(f"{V}/instruments/{card['id']}", headers=headers)
    assert error(in_use) == (409, "instrument_in_use")
    assert client.delete(f"{V}/auto-refill", headers=headers).get_json() == {"removed": True}
    assert client.delete(f"{V}/instruments/{card['id']}", headers=headers).status_code == 200
    bad = client.put(f"{V}/auto-refill", json={"threshold": usd("5"), "amount": usd("5")},
                     headers=headers)  # fmt: skip
    assert error(bad) == (422, "invalid_auto_refill")


def test_statement_needs_a_credit_line(client, customer, postroom):
    number, headers = customer
    assert error(client.get(f"{V}/statements/2026-01", headers=headers)) == (404, "no_credit_line")
    postroom.funding.add_instrument(number, "postage-credit-line", {"limit": "1000"})
    response = client.get(f"{V}/statements/2026-01", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["closing_balance"] == usd("0.00")
    # a month not over yet has no statement: 404, like 9999-12 (whose end datetime cannot hold)
    for month in ("2026-03", "9999-11", "9999-12"):
        assert error(client.get(f"{V}/statements/{month}", headers=headers)) == (
            404,
            "month_not_closed",
        )
    for month in ("0000-00", "1969-12", "2026-00", "2026-1"):
        assert error(client.get(f"{V}/statements/{month}", headers=headers)) == (
            422,
            "invalid_month",
        )
    assert error(client.get(f"{V}/statements/2026-13", headers=headers)) == (422, "invalid_month")


def test_the_demo_customer_pays_by_card_with_an_auto_refill(postroom):
    from postroom.core.demo import DEMO_CUSTOMER, load_demo

    assert "funding" in load_demo(postroom)
    (customer,) = [a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER]
    (card,) = postroom.funding.instruments(customer.number)
    assert card.label.startswith("Visa ...4242")
    rule = postroom.funding.auto_refill(customer.number)
    assert rule is not None
    assert rule.instrument_id == card.id


def test_a_returned_debit_locks_refills_through_the_api(client, customer, postroom):
    number, headers = customer
    bank = postroom.funding.add_instrument(
        number,
        "ach-debit",
        {"routing_number": "111000025", "account_number": "12345678",
         "account_type": "savings", "account_holder": "Acme"},
    )  # fmt: skip
    body = {"id": "bank-1", "instrument_id": bank.id, "amount": usd("60.00")}
    paid = client.post(f"{V}/payments", json=body, headers=headers).get_json()
    assert paid["status"] == "pending"
    postroom.funding.settle(paid["id"])  # returned after the bank paid
    postroom.meters.funds.register_meter("PB-API-1", number, "USPS")
    refill = {"id": "r1", "amount": usd("50.00")}
    assert (
        client.post(f"{V}/meters/PB-API-1/refills", json=refill, headers=headers).status_code == 201
    )
    postroom.funding.record_return(paid["id"], "R01")
    returned = client.get(f"{V}/payments/{paid['id']}", headers=headers).get_json()
    assert (returned["status"], returned["outstanding"]) == ("returned", usd("50.00"))
    again = {"id": "r2", "amount": usd("1.00")}
    response = client.post(f"{V}/meters/PB-API-1/refills", json=again, headers=headers)
    assert error(response) == (423, "refills_locked")


def test_a_closed_account_sees_its_payouts_and_not_another_ones(
    client, postroom: Postroom, customer, other
):
    number, headers = customer
    _, rival = other
    card = add_card(client, headers)
    body = {"id": "pay-1", "instrument_id": card["id"], "amount": usd("25.00")}
    assert client.post(f"{V}/payments", json=body, headers=headers).status_code == 201
    empty = client.get(f"{V}/payouts", headers=headers).get_json()
    assert empty == {"items": [], "payable": usd("0.00")}
    postroom.refunds.close_account(number)
    payout = postroom.payouts.run(number)
    assert payout is not None
    listed = client.get(f"{V}/payouts", headers=headers).get_json()
    assert [p["id"] for p in listed["items"]] == [payout.id]
    assert listed["payable"] == usd("0.00")
    shown = client.get(f"{V}/payouts/{payout.id}", headers=headers).get_json()
    assert shown["status"] == "paid"
    assert (
        shown["refunds"][0]["payment_id"]
        == client.get(f"{V}/payments", headers=headers).get_json()["items"][0]["id"]
    )
    paid = client.get(f"{V}/payments", headers=headers).get_json()["items"][0]
    assert (paid["status"], paid["refunded"]) == ("refunded", usd("25.00"))
    assert error(client.get(f"{V}/payouts/{payout.id}", headers=rival)) == (
        404,
        "payout_not_found",
    )
    assert error(client.get(f"{V}/payouts?limit=0", headers=headers)) == (422, "invalid_limit")
