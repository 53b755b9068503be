"""Fixtures of the integration tests: a kiosk as its users drive it (flaskr's AuthActions)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa
from alembic import command
from flask.testing import FlaskClient
from served import served
from werkzeug.test import TestResponse

from postroom.core import migrate
from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.db import Database
from postroom.core.money import Money
from postroom.frontends.web import create_app

#: The test client's host: what a kiosk page's own forms send as their Origin.
KIOSK_ORIGIN = "http://localhost"
OPERATOR_PIN = "246813"


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match is not None, name
    return match.group(1)


@attrs.define
class Kiosk:
    """Touches on the kiosk's pages through one browser session (``client``)."""

    client: FlaskClient
    #: Alice's PIN (the ``operator`` fixture)
    pin: str = OPERATOR_PIN
    csrf = staticmethod(csrf)

    def post(self, path: str, data: dict[str, object], **headers: str) -> TestResponse:
        """A form sent from the kiosk's own page (its Origin), unless ``headers`` say else."""
        return self.client.post(path, data=data, headers={"Origin": KIOSK_ORIGIN, **headers})

    def price(self, **fields: object) -> str:
        token = csrf(self.client.get("/kiosk/price").get_data(as_text=True))
        data = {
            "csrf_token": token,
            "service": "usps/first-class-letter",
            "weight": "1",
            "unit": "oz",
            **fields,
        }
        response = self.client.post("/kiosk/price", data=data)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    @staticmethod
    def print_form(page: str, **changes: str) -> dict[str, str]:
        form = page.split('class="kiosk-print"', 1)[1].split("</form>", 1)[0]
        data = {
            name: field(form, name)
            for name in ("csrf_token", "idempotency_key", "service", "weight", "unit")
        }
        centers = re.findall(r'name="cost_center" value="([^"]+)" checked', form)
        if centers:
            data["cost_center"] = centers[0]
        data.update(changes)
        return data

    def sign_in(self, operator: int, pin: str = OPERATOR_PIN, **headers: str) -> TestResponse:
        token = csrf(self.client.get("/kiosk/sign-in").get_data(as_text=True))
        form = {"csrf_token": token, "operator": str(operator), "pin": pin}
        return self.post("/kiosk/sign-in", form, **headers)

    def sign_out(self) -> TestResponse:
        token = csrf(self.client.get("/kiosk/sign-in").get_data(as_text=True))
        return self.post("/kiosk/sign-out", {"csrf_token": token})

    def print_piece(self, **changes: str) -> TestResponse:
        return self.post("/kiosk/print", self.print_form(self.price(), **changes))


@pytest.fixture
def kiosk(client: FlaskClient) -> Kiosk:
    return Kiosk(client)


@pytest.fixture
def kiosk_account(postroom: Postroom) -> CustomerAccount:
    """The account the kiosk prints for: funded, with two cost centres."""
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    postroom.ledger.deposit(account.number, Money.parse("10 USD"), "dep-1")
    serial = postroom.meters.virtual_meter(account.number).serial
    postroom.meters.set_cost_centers(serial, ["Legal", "Sales"])
    postroom.config = attrs.evolve(
        postroom.config, kiosk_account=account.number, kiosk_origin_zip="10001"
    )
    return account


@pytest.fixture
def operator(postroom: Postroom, kiosk_account: CustomerAccount) -> KioskOperator:
    return postroom.accounts.add_operator(kiosk_account.number, "Alice Martin", OPERATOR_PIN)


@pytest.fixture
def data_center_url(postroom: Postroom) -> Iterator[str]:
    """The data center's portal and API on a real HTTP port, as a remote kiosk reaches it."""
    with served(create_app(postroom=postroom)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def signed_in(kiosk: Kiosk, operator: KioskOperator) -> KioskOperator:
    """Alice is signed in at the kiosk."""
    assert kiosk.sign_in(operator.id).status_code == 303
    return operator


# ------------------------------------------------------------------ migrations


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, on each store (a migration test takes it down and up)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    pg_url: str = request.getfixturevalue("pg_url")
    admin = sa.create_engine(Database(pg_url).url, isolation_level="AUTOCOMMIT")
    name = f"postroom_fresh_{os.getpid()}_{threading.get_ident()}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield Database(pg_url).url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


Downgrade = Callable[[Database, str], None]


@pytest.fixture
def downgrade() -> Downgrade:
    """Takes a database's schema down to a revision (as a site's was before it)."""

    def down(database: Database, target: str) -> None:
        config = migrate._alembic_config()
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, target)

    return down
