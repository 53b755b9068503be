"""Sandbox payment sources never serve production (issue 11, item 2): with
``POSTROOM_ENV=production`` the sandbox card is neither offered nor used, on the API,
the Python API and the auto-refill, unless ``POSTROOM_ALLOW_SANDBOX_PAYMENTS`` is set,
and then postroom says so at every start."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.money import Money
from postroom.frontends.cli import cli
from postroom.frontends.web import create_app

V = "/api/v1/vault"
CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
BIG = {"amount": "50000.00", "currency": "USD"}
#: Production refuses to open without a ledger key (the ledger's keyed chain).
LEDGER_KEY = "the production ledger key of the sandbox tests"


def _open(database_url: str, data_dir: Path, clock: FrozenClock, **settings: str) -> Postroom:
    config = Config.load(
        {}, data_dir=data_dir, database_url=database_url, secret_key="test-secret", **settings
    )
    return Postroom.open(config=config, clock=clock, migrate_schema=True, immediate_jobs=True)


@pytest.fixture
def production(database_url: str, data_dir: Path, clock: FrozenClock) -> Iterator[Postroom]:
    with _open(
        database_url,
        data_dir,
        clock,
        env="production",
        virtual_meter_key="k",
        ledger_key=LEDGER_KEY,
    ) as pr:
        yield pr


def _client(pr: Postroom) -> FlaskClient:
    return create_app({"TESTING": True}, postroom=pr).test_client()


def _customer(pr: Postroom) -> tuple[str, dict[str, str]]:
    account = pr.accounts.create("Acme Mailroom", "US", "USD")
    token = pr.accounts.create_api_key(account.number, "test").token
    return account.number, {"Authorization": f"Bearer {token}"}


def _error(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_production_neither_offers_nor_accepts_the_sandbox_card(production):
    client = _client(production)
    number, headers = _customer(production)
    offered = client.get(f"{V}/payment-sources", headers=headers).get_json()["items"]
    assert "sandbox-card" not in {s["code"] for s in offered}
    assert {"ach-debit", "sepa-debit"} <= {s["code"] for s in offered}
    added = client.post(
        f"{V}/instruments", json={"source": "sandbox-card", "fields": CARD}, headers=headers
    )
    assert _error(added) == (403, "sandbox_source_refused")
    assert production.funding.instruments(number) == []


def test_a_sandbox_instrument_left_from_development_pays_nothing_in_production(
    database_url, data_dir, clock, caplog
):
    # The same database first served development, where a test card was added and an
    # auto-refill rule set; then the installation went to production.
    with _open(database_url, data_dir, clock) as development:
        number, headers = _customer(development)
        card = development.funding.add_instrument(number, "sandbox-card", CARD)
        development.funding.set_auto_refill(
            number, Money.parse("100 USD"), amount=Money.parse("500 USD"), instrument_id=card.id
        )
    with _open(
        database_url,
        data_dir,
        clock,
        env="production",
        virtual_meter_key="k",
        ledger_key=LEDGER_KEY,
    ) as production:
        client = _client(production)
        body = {"id": "pay-1", "instrument_id": card.id, "amount": BIG}
        paid = client.post(f"{V}/payments", json=body, headers=headers)
        assert _error(paid) == (403, "sandbox_source_refused")
        assert production.funding.payments(number) == []
        with caplog.at_level(logging.WARNING):
            checked = production.funding.check_account(number)
        assert (checked.refill, checked.skipped) == (None, "sandbox_source_refused")
        assert production.ledger.balance(number).balances.balance == 0
        assert production.ledger.verify().ok


def test_production_may_allow_sandboxes_explicitly_and_then_warns_at_start(
    database_url, data_dir, clock, caplog
):
    with caplog.at_level(logging.WARNING, logger="postroom.core.app"):
        pr = _open(
            database_url,
            data_dir,
            clock,
            env="production",
            virtual_meter_key="k",
            ledger_key=LEDGER_KEY,
            allow_sandbox_payments="1",
        )
    with pr:
        assert "POSTROOM_ALLOW_SANDBOX_PAYMENTS is set in production" in caplog.text
        assert "sandbox-card" in caplog.text
        client = _client(pr)
        _, headers = _customer(pr)
        offered = client.get(f"{V}/payment-sources", headers=headers).get_json()["items"]
        assert "sandbox-card" in {s["code"] for s in offered}
        card = client.post(
            f"{V}/instruments", json={"source": "sandbox-card", "fields": CARD}, headers=headers
        ).get_json()
        body = {"id": "pay-1", "instrument_id": card["id"], "amount": BIG}
        paid = client.post(f"{V}/payments", json=body, headers=headers)
        assert (paid.status_code, paid.get_json()["status"]) == (201, "settled")


def test_development_serves_the_sandbox_without_a_warning(postroom, caplog):
    assert postroom.funding.sandbox_allowed
    assert postroom.funding.sandbox_sources() == ["sandbox-card"]
    assert "sandbox-card" in postroom.funding.offered_sources()
    assert "POSTROOM_ALLOW_SANDBOX_PAYMENTS" not in caplog.text


def test_postroom_plugins_warns_when_production_allows_sandboxes(cli_env):
    quiet = CliRunner(env={**cli_env, "POSTROOM_ENV": "production"}).invoke(cli, ["plugins"])
    assert quiet.exit_code == 0, quiet.output
    assert "WARNING" not in quiet.output
    loud = CliRunner(
        env={**cli_env, "POSTROOM_ENV": "production", "POSTROOM_ALLOW_SANDBOX_PAYMENTS": "1"}
    ).invoke(cli, ["plugins"])
    assert loud.exit_code == 0, loud.output
    assert "WARNING: POSTROOM_ALLOW_SANDBOX_PAYMENTS is set in production" in loud.output
    assert "sandbox-card" in loud.output


def test_payment_sources_command_marks_a_refused_sandbox(cli_env):
    env = {**cli_env, "POSTROOM_ENV": "production", "POSTROOM_VIRTUAL_METER_KEY": "k",
           "POSTROOM_LEDGER_KEY": LEDGER_KEY}  # fmt: skip
    listed = CliRunner(env=env).invoke(cli, ["vault", "payment-sources"])
    assert listed.exit_code == 0, listed.output
    card = next(line for line in listed.output.splitlines() if line.startswith("sandbox-card"))
    assert card.endswith("[sandbox, refused in production]")
