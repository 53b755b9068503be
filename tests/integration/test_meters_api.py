"""/api/v1/meters: a customer's meters (customer key) and the sync conversation (meter
key), including a remote sync of a pty simulator through the app served by waitress."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from served import served

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import Unauthenticated
from postroom.core.meters import tokens
from postroom.core.meters.printing import PrintRequest, print_indicium
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.units import Weight
from postroom.hal.meter.connect import run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.remote import RemoteDataCenter
from postroom.hal.meter.simulator import MeterSimulator

SERIAL = "PR-API-1"


@pytest.fixture
def accounts(postroom: Postroom) -> dict[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD")
    other = postroom.accounts.create("Other Mailroom", "US", "USD")
    postroom.ledger.deposit(mine.number, Money.parse("100.00 USD"), "dep-1")
    meter_key = postroom.meters.register(mine.number, product_code="PR-VPSD1", serial=SERIAL)
    postroom.meters.register(other.number, product_code="PR-VPSD1", serial="PR-API-9")
    return {
        "mine": postroom.accounts.create_api_key(mine.number).token,
        "other": postroom.accounts.create_api_key(other.number).token,
        "meter": meter_key.api_key,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_customer_sees_its_own_meters_only(client: FlaskClient, accounts: dict[str, str]) -> None:
    listed = client.get("/api/v1/meters", headers=bearer(accounts["mine"]))
    assert listed.status_code == 200
    assert [m["serial"] for m in listed.get_json()["items"]] == [SERIAL]
    assert listed.get_json()["items"][0]["registers"]["descending_mills"] == 0
    shown = client.get(f"/api/v1/meters/{SERIAL}", headers=bearer(accounts["mine"]))
    assert shown.status_code == 200
    body = shown.get_json()
    assert body["inspection"]["status"] == "ok"
    assert body["pieces"] == []
    foreign = client.get("/api/v1/meters/PR-API-9", headers=bearer(accounts["mine"]))
    assert foreign.status_code == 404
    assert foreign.get_json()["error"]["code"] == "meter_not_found"
    missing = client.get("/api/v1/meters/%00bad", headers=bearer(accounts["mine"]))
    assert missing.status_code == 404


def test_a_meter_key_and_a_customer_key_are_not_interchangeable(
    client: FlaskClient, accounts: dict[str, str]
) -> None:
    as_meter = client.get("/api/v1/meters", headers=bearer(accounts["meter"]))
    assert as_meter.status_code == 401
    as_customer = client.post(
        "/api/v1/meters/sync/begin", json={}, headers=bearer(accounts["mine"])
    )
    assert as_customer.status_code == 401
    assert as_customer.get_json()["error"]["code"] == "invalid_meter_key"
    wrong = accounts["meter"][:-4] + "AAAA"
    refused = client.post("/api/v1/meters/sync/begin", json={}, headers=bearer(wrong))
    assert refused.status_code == 401
    nobody = client.post("/api/v1/meters/sync/finish", json={})
    assert nobody.status_code == 401
    bad = client.post(
        "/api/v1/meters/sync/begin", json={"identity": 3}, headers=bearer(accounts["meter"])
    )
    assert bad.status_code == 422
    unknown = client.post(
        "/api/v1/meters/sync/finish",
        json={"sync_id": "nope"},
        headers=bearer(accounts["meter"]),
    )
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["code"] == "sync_not_found"


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    with served(app) as port:
        yield f"http://127.0.0.1:{port}"


def test_a_remote_sync_over_http_applies_the_refill_once(
    postroom: Postroom,
    accounts: dict[str, str],
    server: str,
    tmp_path: Path,
    clock: FrozenClock,
) -> None:
    refill = postroom.meters.funds.refill(SERIAL, Money.parse("25.00 USD"), "r1")
    key = tokens.meter_key(postroom.config.resolved_secret_key(), SERIAL)
    with MeterSimulator(tmp_path / "psd", SERIAL, clock=clock, meter_key=key) as sim:
        remote = RemoteDataCenter(server, accounts["meter"])
        with MeterClient.open(sim.path, timeout=0.3) as meter:
            outcome = run_sync(meter, remote)
        assert outcome.complete
        assert outcome.summary.tokens_applied == (refill.reset.sequence,)
        assert outcome.summary.reconciled is True
        assert "rates" in outcome.summary.installed
        with MeterClient.open(sim.path, timeout=0.3) as meter:
            again = run_sync(meter, remote).summary
        assert again.installed == ()
        assert sim.psd.state["descending"] == 25_000
        with MeterClient.open(sim.path, timeout=0.3) as meter, pytest.raises(Unauthenticated):
            run_sync(meter, RemoteDataCenter(server, accounts["mine"]))  # a customer's key
    assert postroom.meters.funds.issued_tokens(SERIAL)[0].applied is True
    assert postroom.meters.get(SERIAL).last_sync_at == clock.now()


def test_meter_connect_with_server_and_meter_key(
    postroom: Postroom,
    accounts: dict[str, str],
    server: str,
    tmp_path: Path,
    clock: FrozenClock,
    runner,  # type: ignore[no-untyped-def]
) -> None:
    import json

    from postroom.frontends.cli import cli

    postroom.meters.funds.refill(SERIAL, Money.parse("5.00 USD"), "r1")
    key = tokens.meter_key(postroom.config.resolved_secret_key(), SERIAL)
    with MeterSimulator(tmp_path / "psd", SERIAL, clock=clock, meter_key=key) as sim:
        args = ["meter", "connect", "--port", sim.path, "--server", server, "--json"]
        result = runner.invoke(cli, [*args, "--api-key", accounts["meter"]])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["tokens_applied"] == [1]
        assert sim.psd.state["descending"] == 5_000
        refused = runner.invoke(cli, [*args, "--api-key", accounts["mine"]])
        assert refused.exit_code == 1
        assert "[invalid_meter_key]" in refused.output
        unreachable = runner.invoke(
            cli, ["meter", "connect", "--port", sim.path, "--server", "http://127.0.0.1:9",
                  "--api-key", accounts["meter"]],
        )  # fmt: skip
        assert unreachable.exit_code == 1
        assert "[datacenter_unavailable]" in unreachable.output


def test_a_customer_asks_back_a_logged_piece_by_number(
    postroom: Postroom,
    client: FlaskClient,
    accounts: dict[str, str],
    tmp_path: Path,
    clock: FrozenClock,
) -> None:
    postroom.meters.funds.refill(SERIAL, Money.parse("25.00 USD"), "r1")
    key = tokens.meter_key(postroom.config.resolved_secret_key(), SERIAL)
    datacenter = postroom.meters.datacenter(SERIAL)
    with (
        MeterSimulator(tmp_path / "psd", SERIAL, clock=clock, meter_key=key) as sim,
        MeterClient.open(sim.path, timeout=0.3) as meter,
    ):
        assert run_sync(meter, datacenter).complete
        request = PrintRequest("usps", "first-class-letter", Piece(Weight.parse("1oz")), "12345")
        printed = print_indicium(
            postroom.rates,
            meter,
            request,
            clock=clock,
            rate_package=postroom.meters.rate_package,
        )
        assert run_sync(meter, datacenter).complete
    face = printed.piece.record.postage

    url = f"/api/v1/meters/{SERIAL}/refunds"
    body = {"id": "mis-1", "pieces": [1], "reason": "misprinted"}
    asked = client.post(url, json=body, headers=bearer(accounts["mine"]))
    assert asked.status_code == 201, asked.get_json()
    refund = asked.get_json()
    assert refund["status"] == "requested"
    assert Money.from_json(refund["pieces"][0]["face"]) == face
    again = client.post(url, json=body, headers=bearer(accounts["mine"]))
    assert again.get_json() == refund  # idempotent by id

    unlogged = client.post(
        url,
        json={"id": "mis-2", "pieces": [2], "reason": "misprinted"},
        headers=bearer(accounts["mine"]),
    )
    assert unlogged.status_code == 404
    assert unlogged.get_json()["error"]["code"] == "piece_not_logged"
    foreign = client.post(
        "/api/v1/meters/PR-API-9/refunds",
        json={"id": "mis-3", "pieces": [1], "reason": "misprinted"},
        headers=bearer(accounts["mine"]),
    )
    assert foreign.status_code == 404
    bad = client.post(url, json={"id": "mis-4", "pieces": ["1"], "reason": "misprinted"},
                      headers=bearer(accounts["mine"]))  # fmt: skip
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "invalid_piece"
