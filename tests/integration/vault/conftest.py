"""Vault fixtures: every vault integration test runs on SQLite and, when
POSTROOM_TEST_DATABASE_URL is set, on PostgreSQL too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _migrated_postgres: str | None,
    empty_postgres: Callable[[str], None],
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vault.db'}"
    if _migrated_postgres is None:
        pytest.skip("PostgreSQL tests need POSTROOM_TEST_DATABASE_URL")
    empty_postgres(_migrated_postgres)
    return _migrated_postgres


@pytest.fixture
def pr(store_url: str, data_dir: Path, clock: FrozenClock) -> Iterator[Postroom]:
    config = Config.load({}, data_dir=data_dir, database_url=store_url, secret_key="test-secret")
    with Postroom.open(
        config=config, clock=clock, migrate_schema=True, immediate_jobs=True
    ) as postroom:
        yield postroom


@pytest.fixture
def customer(pr: Postroom) -> CustomerAccount:
    return pr.accounts.create("Acme Mailroom", "US", "USD")
