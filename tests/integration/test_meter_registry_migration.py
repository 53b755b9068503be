"""Migration meters_0004: each meter keeps its account's number (the meters area reads a
meter without the accounts area's table); the meters of a site migrated from before
show their own account's number, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from postroom.core import migrate
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.db import Database


def test_a_site_migrated_from_before_shows_each_meter_with_its_own_account(
    fresh_url: str,
    downgrade: Callable[[Database, str], None],
    tmp_path: Path,
    clock: FrozenClock,
) -> None:
    config = Config.load({}, data_dir=tmp_path, secret_key="x", database_url=fresh_url)
    database = Database(fresh_url)
    migrate.upgrade(database)
    with Postroom.open(config=config, clock=clock) as pr:
        acme = pr.accounts.create("Acme Mailroom", "US", "USD").number
        globex = pr.accounts.create("Globex Post", "FR", "EUR").number
        pr.meters.register(acme, product_code="PR-VPSD1", serial="PM-ACME")
        pr.meters.register(globex, product_code="PR-VPSD1", serial="PM-GLOBEX")
    downgrade(database, "meters_0003")  # as the store was: the number only by the join
    assert "customer_number" not in {
        c["name"] for c in sa.inspect(database.engine).get_columns("meters")
    }
    migrate.upgrade(database)
    database.dispose()
    with Postroom.open(config=config, clock=clock) as pr:
        assert pr.meters.get("PM-ACME").customer_account == acme
        assert pr.meters.get("PM-GLOBEX").customer_account == globex
        assert [m.serial for m in pr.meters.list(globex)] == ["PM-GLOBEX"]
