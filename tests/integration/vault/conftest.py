"""Vault fixtures: every vault integration test runs on SQLite and, when
POSTROOM_TEST_DATABASE_URL is set, on PostgreSQL too."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Notification, PaymentSource


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _migrated_postgres: str | None,
    _migrated_sqlite: Path,
    empty_postgres: Callable[[str], None],
) -> str:
    if request.param == "sqlite":
        path = tmp_path / "vault.db"
        shutil.copyfile(_migrated_sqlite, path)
        return f"sqlite:///{path}"
    if _migrated_postgres is None:
        pytest.skip("PostgreSQL tests need POSTROOM_TEST_DATABASE_URL")
    empty_postgres(_migrated_postgres)
    return _migrated_postgres


#: Opens postroom on this test's store, with these (name, plugin) pairs registered
#: besides the built-in ones.
OpenPostroom = Callable[..., contextlib.AbstractContextManager[Postroom]]


@pytest.fixture
def open_postroom(store_url: str, data_dir: Path, clock: FrozenClock) -> OpenPostroom:
    @contextlib.contextmanager
    def opened(*plugins: tuple[str, object]) -> Iterator[Postroom]:
        config = Config.load(
            {}, data_dir=data_dir, database_url=store_url, secret_key="test-secret"
        )
        with Postroom.open(
            config=config,
            clock=clock,
            migrate_schema=True,
            immediate_jobs=True,
            extra_plugins=list(plugins),
        ) as postroom:
            yield postroom

    return opened


@pytest.fixture
def pr(open_postroom: OpenPostroom) -> Iterator[Postroom]:
    with open_postroom() as postroom:
        yield postroom


@pytest.fixture
def customer(pr: Postroom) -> CustomerAccount:
    return pr.accounts.create("Acme Mailroom", "US", "USD")


class Inbox:
    """A notifier that keeps what it was asked to send in ``sent``."""

    name = "inbox"
    channels = ("email",)

    def __init__(self, sent: list[Notification]) -> None:
        self.sent = sent

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


class SourceWithInbox:
    """A plugin for one test: a payment source, and an inbox notifier keeping ``told``."""

    def __init__(self, source: PaymentSource, told: list[Notification]) -> None:
        self.source = source
        self.told = told

    @hookimpl
    def register_payment_sources(self) -> list[PaymentSource]:
        return [self.source]

    @hookimpl
    def register_notifiers(self) -> list[Inbox]:
        return [Inbox(self.told)]


@pytest.fixture
def postroom_with_source(
    open_postroom: OpenPostroom,
) -> Callable[[PaymentSource, list[Notification]], contextlib.AbstractContextManager[Postroom]]:
    """Opens postroom with a test's payment source and an inbox keeping what it was told."""
    return lambda source, told: open_postroom(("under-test", SourceWithInbox(source, told)))
