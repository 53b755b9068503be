"""The vault's JSON API: the caller's own balance, transfers, meters and reports."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.demo import DEMO_METER, load_demo
from postroom.core.ledger.model import ReportType
from postroom.core.money import Money
from postroom.frontends.cli import cli

V = "/api/v1/vault"


def usd(text: str) -> dict[str, str]:
    return {"amount": text, "currency": "USD"}


@pytest.fixture
def customer(postroom: Postroom) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    token = postroom.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other(postroom: Postroom) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create("Rival Mailroom", "US", "USD")
    token = postroom.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


def deposit(client: FlaskClient, headers: dict[str, str], tid: str, amount: str):
    """Fund the caller's postage account as staff does: no API route credits money."""
    pr: Postroom = client.application.extensions["postroom"]
    number = pr.accounts.authenticate(headers["Authorization"].removeprefix("Bearer ")).number
    return pr.funding.manual_deposit(
        number, Money.parse(f"{amount} USD"), tid, staff="test staff", reason="funds for a test"
    )


def test_every_vault_route_needs_a_key(client: FlaskClient):
    for path in ("/balance", "/transfers", "/meters", "/report"):
        response = client.get(V + path)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "missing_api_key"


def test_a_deposit_shows_in_the_balance_and_history_in_money_strings(client, customer):
    number, headers = customer
    deposit(client, headers, "dep-1", "120.50")
    body = client.get(f"{V}/transfers/dep-1", headers=headers).get_json()
    assert body["id"] == "dep-1"
    assert Money.from_json(body["amount"]) == Money.parse("120.50 USD")
    assert body["type"] == "fund"
    assert body["credit"] == f"postage:{number}"
    balance = client.get(f"{V}/balance", headers=headers).get_json()
    assert Money.from_json(balance["balance"]) == Money.parse("120.50 USD")
    assert Money.from_json(balance["available"]) == Money.parse("120.50 USD")
    assert Money.from_json(balance["reserved"]).is_zero
    assert Money.from_json(balance["credit_limit"]).is_zero
    assert all(isinstance(balance[k]["amount"], str) for k in ("balance", "available"))


def test_balance_without_postage_account_is_404(client, customer):
    response = client.get(f"{V}/balance", headers=customer[1])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "no_postage_account"


def test_reservation_retry_is_idempotent_and_reused_id_conflicts(client, customer, postroom):
    number, headers = customer
    deposit(client, headers, "dep-1", "20.00")
    body = {"id": "r-1", "amount": usd("10.00")}
    first = client.post(f"{V}/reservations", json=body, headers=headers)
    again = client.post(f"{V}/reservations", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)  # a replay: the first answer
    assert again.get_json() == first.get_json()
    assert postroom.ledger.balance(number).balances.debits_pending == 10_000
    clash = client.post(f"{V}/reservations", json={**body, "amount": usd("11.00")}, headers=headers)
    assert clash.status_code == 409
    assert clash.get_json()["error"]["code"] == "transfer_id_reused"
    assert postroom.ledger.balance(number).balances.debits_pending == 10_000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"id": "d1", "amount": 12.5}, 422, "amount_not_a_string"),
        ({"id": "d1", "amount": 12}, 422, "amount_not_a_string"),
        ({"id": "d1", "amount": {"amount": 12.5, "currency": "USD"}}, 422, "amount_not_a_string"),
        ({"id": "d1", "amount": {"amount": 12, "currency": "USD"}}, 422, "amount_not_a_string"),
        ({"id": "d1", "amount": usd("-5.00")}, 422, "invalid_amount"),
        ({"id": "d1", "amount": usd("0")}, 422, "invalid_amount"),
        ({"id": "d1", "amount": usd("abc")}, 422, "invalid_amount"),
        ({"id": "d1", "amount": {"amount": "5.00", "currency": "EUR"}}, 409, "currency_mismatch"),
        ({"id": "d1"}, 422, "missing_field"),
        ({"amount": usd("5.00")}, 422, "missing_field"),
        ({"id": " bad id", "amount": usd("5.00")}, 422, "invalid_transfer_id"),
        ({"id": 7, "amount": usd("5.00")}, 422, "invalid_transfer_id"),
        ({"id": "d1", "amount": usd("5.00"), "reference": 3}, 422, "invalid_reference"),
        ([1, 2], 422, "invalid_body"),
    ],
)
def test_bad_amount_bodies(client, customer, postroom, body, status, code):
    deposit(client, customer[1], "dep-1", "50.00")
    response = client.post(f"{V}/reservations", json=body, headers=customer[1])
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert postroom.ledger.verify().ok


def test_bad_json_and_content_type_are_4xx_with_a_code(client, customer):
    headers = customer[1]
    response = client.post(
        f"{V}/reservations",
        data="{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"
    response = client.post(f"{V}/reservations", data="id=1", headers=headers)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "json_required"


def test_transfer_history_paginates_and_filters(client, customer, clock: FrozenClock):
    _, headers = customer
    for i in range(5):
        deposit(client, headers, f"dep-{i}", f"{i + 1}.00")
        clock.advance(timedelta(days=1))
    page = client.get(f"{V}/transfers?limit=2", headers=headers).get_json()
    assert [t["id"] for t in page["items"]] == ["dep-4", "dep-3"]
    assert page["next_offset"] == 2
    rest = client.get(f"{V}/transfers?limit=2&offset=4", headers=headers).get_json()
    assert [t["id"] for t in rest["items"]] == ["dep-0"]
    assert rest["next_offset"] is None
    # deposits were made on 2026-03-02 .. 2026-03-06
    ranged = client.get(f"{V}/transfers?from=2026-03-03&to=2026-03-04", headers=headers)
    assert [t["id"] for t in ranged.get_json()["items"]] == ["dep-2", "dep-1"]
    typed = client.get(f"{V}/transfers?type=fee", headers=headers).get_json()
    assert typed["items"] == []
    one = client.get(f"{V}/transfers/dep-2", headers=headers).get_json()
    assert Money.from_json(one["amount"]) == Money.parse("3 USD")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("limit=abc", "invalid_limit"),
        ("offset=-1", "invalid_offset"),
        ("from=yesterday", "invalid_date"),
        ("type=bogus", "invalid_type"),
    ],
)
def test_bad_history_queries(client, customer, query, code):
    response = client.get(f"{V}/transfers?{query}", headers=customer[1])
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == code


def test_meters_refill_returns_a_token_that_applies(client, customer, postroom):
    number, headers = customer
    deposit(client, headers, "dep-1", "100.00")
    postroom.meters.funds.register_meter("PB-1", number, "USPS")
    listed = client.get(f"{V}/meters", headers=headers).get_json()["items"]
    assert [m["serial"] for m in listed] == ["PB-1"]
    response = client.post(
        f"{V}/meters/PB-1/refills", json={"id": "r1", "amount": usd("60.00")}, headers=headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert Money.from_json(body["meter"]["descending"]) == Money.parse("60 USD")
    assert Money.from_json(body["meter"]["control_sum"]) == Money.parse("60 USD")
    assert body["meter"]["pieces"] == 0
    assert body["transfer"]["id"] == "r1"
    again = client.post(
        f"{V}/meters/PB-1/refills", json={"id": "r1", "amount": usd("60.00")}, headers=headers
    ).get_json()
    assert again["reset_token"] == body["reset_token"]
    assert (
        postroom.meters.funds.apply_reset_token("PB-1", body["reset_token"]).amount.mills == 60_000
    )
    postroom.meters.funds.record_usage("PB-1", Money.parse("7.30 USD"), 10, "use-1")
    meter = client.get(f"{V}/meters/PB-1", headers=headers).get_json()
    assert Money.from_json(meter["ascending"]) == Money.parse("7.30 USD")
    assert Money.from_json(meter["descending"]) == Money.parse("52.70 USD")
    assert meter["pieces"] == 10
    assert Money.from_json(client.get(f"{V}/balance", headers=headers).get_json()["balance"]) == (
        Money.parse("40 USD")
    )


def test_refill_beyond_funds_is_insufficient_funds(client, customer, postroom):
    number, headers = customer
    deposit(client, headers, "dep-1", "10.00")
    postroom.meters.funds.register_meter("PB-1", number, "USPS")
    response = client.post(
        f"{V}/meters/PB-1/refills", json={"id": "r1", "amount": usd("10.01")}, headers=headers
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "insufficient_funds"
    assert postroom.meters.funds.registers("PB-1").descending == 0


def test_another_accounts_objects_answer_404(client, customer, other, postroom):
    _number, headers = customer
    rival_number, rival = other
    deposit(client, rival, "rival-dep", "50.00")
    postroom.meters.funds.register_meter("RIVAL-1", rival_number, "USPS")
    reserved = client.post(
        f"{V}/reservations", json={"id": "rival-p", "amount": usd("1.00")}, headers=rival
    )
    assert reserved.status_code == 201
    deposit(client, headers, "dep-1", "50.00")
    for method, path, body in [
        ("get", f"{V}/meters/RIVAL-1", None),
        ("post", f"{V}/meters/RIVAL-1/refills", {"id": "steal", "amount": usd("1.00")}),
        ("get", f"{V}/transfers/rival-dep", None),
        ("post", f"{V}/reservations/rival-p/post", {"id": "steal-post"}),
        ("post", f"{V}/reservations/rival-p/void", {"id": "steal-void"}),
        ("get", f"{V}/report?meter=RIVAL-1", None),
    ]:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code == 404, (path, response.get_json())
        assert response.get_json()["error"]["code"].endswith("not_found")
    assert postroom.meters.funds.registers("RIVAL-1").descending == 0
    assert [t["id"] for t in client.get(f"{V}/transfers", headers=headers).get_json()["items"]] == [
        "dep-1"
    ]


def test_reserve_post_and_void_virtual_meter_postage(client, customer, postroom):
    number, headers = customer
    deposit(client, headers, "dep-1", "10.00")
    p1 = client.post(
        f"{V}/reservations",
        json={"id": "p1", "amount": usd("4.00"), "timeout_seconds": 600},
        headers=headers,
    )
    assert p1.status_code == 201
    assert p1.get_json()["phase"] == "pending"
    balance = client.get(f"{V}/balance", headers=headers).get_json()
    assert Money.from_json(balance["reserved"]) == Money.parse("4 USD")
    assert Money.from_json(balance["available"]) == Money.parse("6 USD")
    too_much = client.post(
        f"{V}/reservations", json={"id": "p2", "amount": usd("6.01")}, headers=headers
    )
    assert too_much.status_code == 409
    assert too_much.get_json()["error"]["code"] == "insufficient_funds"
    posted = client.post(
        f"{V}/reservations/p1/post", json={"id": "p1-post", "amount": usd("3.50")}, headers=headers
    )
    assert posted.status_code == 201, posted.get_json()
    twice = client.post(f"{V}/reservations/p1/void", json={"id": "p1-void"}, headers=headers)
    assert twice.status_code == 409
    assert (
        client.post(
            f"{V}/reservations", json={"id": "p3", "amount": usd("1.00")}, headers=headers
        ).status_code
        == 201
    )
    voided = client.post(f"{V}/reservations/p3/void", json={"id": "p3-void"}, headers=headers)
    assert voided.status_code == 201
    assert voided.get_json()["phase"] == "void_pending"
    account = postroom.ledger.balance(number)
    assert account.balances.balance == 6_500
    assert account.balances.debits_pending == 0
    assert postroom.ledger.verify().ok


def test_kiosk_postage_is_reported_by_cost_center(client, customer):
    _, headers = customer
    deposit(client, headers, "dep-1", "10.00")
    for n, center in ((1, "Legal"), (2, "Sales"), (3, "Legal")):
        held = client.post(
            f"{V}/reservations",
            json={"id": f"k{n}", "amount": usd("0.74"), "cost_center": center},
            headers=headers,
        )
        assert held.status_code == 201, held.get_json()
        assert held.get_json()["cost_center"] == center
        posted = client.post(
            f"{V}/reservations/k{n}/post", json={"id": f"k{n}-post"}, headers=headers
        )
        assert posted.status_code == 201
    legal = client.get(f"{V}/report?cost_center=Legal", headers=headers).get_json()
    assert {e["transfer_id"] for e in legal["entries"]} == {"k1-post", "k3-post"}
    assert legal["by_cost_center"] == [
        {"cost_center": "Legal", "net": {"amount": "-1.48", "currency": "USD"}, "pieces": 0}
    ]
    bad = client.get(f"{V}/report?cost_center=%20", headers=headers)
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "invalid_cost_center"


def _ledger_setup(client, customer, postroom, clock):
    number, headers = customer
    deposit(client, headers, "dep-1", "200.00")
    postroom.meters.funds.register_meter("PB-1", number, "USPS")
    postroom.meters.funds.register_meter("PB-2", number, "USPS")
    clock.advance(timedelta(days=1))
    postroom.meters.funds.refill("PB-1", Money.parse("60 USD"), "r1")
    postroom.meters.funds.refill("PB-2", Money.parse("25 USD"), "r2")
    clock.advance(timedelta(days=1))
    postroom.meters.funds.record_usage("PB-1", Money.parse("7.30 USD"), 10, "use-1")
    postroom.meters.funds.record_usage("PB-2", Money.parse("1.10 USD"), 2, "use-2")
    postroom.ledger.reserve_postage(number, Money.parse("2 USD"), "pending-1")  # not posted
    return number, headers


def test_report_totals_match_the_ledger(client, customer, postroom, clock):
    number, headers = customer
    _ledger_setup(client, customer, postroom, clock)
    report = postroom.ledger.report(number)
    for account in postroom.ledger.accounts():
        if account.owner_id is None:
            continue
        assert report.total(account.code).net == account.balances.balance
    assert report.total(f"postage:{number}").net == 200_000 - 85_000
    assert report.total("meter:PB-1").net == postroom.meters.funds.registers("PB-1").descending
    body = client.get(f"{V}/report", headers=headers).get_json()
    totals = {t["account"]: Money.from_json(t["net"]) for t in body["totals"]}
    assert totals[f"postage:{number}"] == Money.parse("115 USD")
    assert totals["meter:PB-2"] == Money.parse("23.90 USD")
    assert all(isinstance(e["amount"]["amount"], str) for e in body["entries"])
    assert postroom.ledger.verify().ok


def test_report_filters_by_type_meter_and_date(client, customer, postroom, clock):
    number, headers = customer
    _ledger_setup(client, customer, postroom, clock)
    prints = postroom.ledger.report(number, types=[ReportType.PRINT])
    assert {e.transfer_id for e in prints.entries} == {"use-1", "use-2"}
    meter = client.get(f"{V}/report?meter=PB-1", headers=headers).get_json()
    assert {e["transfer_id"] for e in meter["entries"]} == {"r1", "use-1"}
    assert [Money.from_json(t["net"]) for t in meter["totals"]] == [Money.parse("52.70 USD")]
    first_day = client.get(f"{V}/report?from=2026-03-02&to=2026-03-02", headers=headers)
    assert [e["transfer_id"] for e in first_day.get_json()["entries"]] == ["dep-1"]
    unknown = client.get(f"{V}/report?meter=NOPE", headers=headers)
    assert unknown.status_code == 404
    bad = client.get(f"{V}/report?format=xml", headers=headers)
    assert bad.status_code == 422


def test_report_as_csv(client, customer, postroom, clock):
    number, headers = customer
    _ledger_setup(client, customer, postroom, clock)
    for response in (
        client.get(f"{V}/report?format=csv", headers=headers),
        client.get(f"{V}/report", headers={**headers, "Accept": "text/csv"}),
    ):
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        postage = [r for r in rows if r["account"] == f"postage:{number}"]
        net = sum(Money.parse(f"{r['amount']} USD").mills for r in postage)
        assert net == postroom.ledger.balance(number).balances.balance


def test_cli_report_matches_the_ledger(postroom, runner):
    number = postroom.accounts.create("CLI Mailroom", "US", "USD").number
    postroom.ledger.deposit(number, Money.parse("80 USD"), "d1")
    postroom.meters.funds.register_meter("CLI-1", number, "USPS")
    postroom.meters.funds.refill("CLI-1", Money.parse("30 USD"), "r1")
    result = runner.invoke(cli, ["vault", "report", "--account", number, "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    totals = {t["account"]: t["net"] for t in body["totals"]}
    assert set(totals) == {f"postage:{number}", "meter:CLI-1"}
    assert Money.from_json(totals[f"postage:{number}"]) == Money.parse("50 USD")
    assert Money.from_json(totals["meter:CLI-1"]) == Money.parse("30 USD")
    result = runner.invoke(
        cli, ["vault", "report", "--account", number, "--type", "transfer", "--meter", "CLI-1"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["transfer_id"], r["account"]) for r in rows] == [("r1", "meter:CLI-1")]
    result = runner.invoke(cli, ["vault", "report", "--account", number, "--type", "nonsense"])
    assert result.exit_code == 1
    assert "invalid_type" in result.output


def test_demo_step_funds_an_account_and_hands_back_a_key_once(postroom):
    facts: dict[str, str] = {}
    assert "vault" in load_demo(postroom, facts=facts)
    token = facts["demo API key"]
    customer = postroom.accounts.authenticate(token)
    assert customer.name == "Demo Mailroom Inc."
    assert postroom.ledger.balance(customer.number).balances.balance == 400_000
    registers = postroom.meters.funds.registers(DEMO_METER)
    assert registers.descending == 100_000 == registers.control_sum
    again: dict[str, str] = {}
    assert load_demo(postroom, facts=again) == []
    assert again == {}
    assert postroom.ledger.verify().ok
