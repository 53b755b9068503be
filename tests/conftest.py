"""Shared fixtures.

Integration tests run on SQLite by default and on PostgreSQL when
POSTROOM_TEST_DATABASE_URL names a database (the tox ``postgres`` env): the
schema is migrated once per session there and every table emptied between tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from postroom.core import migrate, schema
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.db import Database

PG_ENV = "POSTROOM_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _worker_database(url: str, worker: str, *, create: bool) -> str:
    """The URL of this pytest-xdist worker's own database beside ``url`` (made anew when
    ``create``, else dropped): workers then run PostgreSQL tests side by side, each
    emptying only its own tables."""
    base = Database(url).url
    name = f"{base.database}_{worker}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


_SHARED_PG_URL: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = postgres_url()
    if worker and url:
        _SHARED_PG_URL.append(url)
        os.environ[PG_ENV] = _worker_database(url, worker, create=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and _SHARED_PG_URL:
        for engine in _EMPTYING_ENGINES.values():
            engine.dispose()
        _worker_database(_SHARED_PG_URL[0], worker, create=False)
        os.environ[PG_ENV] = _SHARED_PG_URL[0]


#: Fixtures through which a test reaches the store under test (the others, such as the
#: schemathesis run on its own SQLite file, run once, in the SQLite pass).
DATABASE_FIXTURES = {"database_url", "store_url", "pg_url", "_migrated_postgres"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-facing",
        action="store_true",
        help="only the tests that reach the store under test (tests/run_postgres.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-facing"):
        return
    keep, drop = [], []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        facing = names & DATABASE_FIXTURES or item.get_closest_marker("postgres")
        (keep if facing else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and postgres_url() is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see tox -e postgres)")


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL URL of this run (tests using it are marked ``postgres``)."""
    url = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see tox -e postgres)")
    return url


@pytest.fixture(scope="session")
def _migrated_postgres() -> Iterator[str | None]:
    url = postgres_url()
    if url is None:
        yield None
        return
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    yield url


_EMPTYING_ENGINES: dict[str, sa.Engine] = {}


def _empty_tables(url: str) -> None:
    """Empty every table of postroom's schema in the database at ``url`` (PostgreSQL)
    and restart its sequences, as before a test that needs an empty store.

    DELETE with triggers off (``session_replication_role``, a superuser's setting: the
    ledger's own triggers refuse deletes) takes a quarter of TRUNCATE's time on these
    small tables, paid before every PostgreSQL test; TRUNCATE is the fallback."""
    engine = _EMPTYING_ENGINES.get(url)
    if engine is None:
        # pre-ping: some tests terminate every backend, this engine's pooled one too
        engine = _EMPTYING_ENGINES[url] = sa.create_engine(Database(url).url, pool_pre_ping=True)
    tables = [f'"{table.name}"' for table in reversed(schema.metadata.sorted_tables)]
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for table in tables:
                connection.exec_driver_sql(f"DELETE FROM {table}")
            sequences = connection.exec_driver_sql(
                "SELECT quote_ident(sequence_schema) || '.' || quote_ident(sequence_name)"
                " FROM information_schema.sequences"
            ).scalars()
            for sequence in list(sequences):
                connection.exec_driver_sql(f"ALTER SEQUENCE {sequence} RESTART")
    except sa.exc.ProgrammingError:  # not a superuser
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def empty_postgres() -> Callable[[str], None]:
    """The helper that empties a migrated PostgreSQL test database between tests."""
    return _empty_tables


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to every head once per test process: a test copies it in
    a few milliseconds instead of running every migration (a third of a second)."""
    path = tmp_path_factory.mktemp("template") / "postroom.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()  # the last connection's close checkpoints the WAL into the file
    return path


@pytest.fixture
def database_url(tmp_path: Path, _migrated_postgres: str | None, _migrated_sqlite: Path) -> str:
    """A fresh, empty, migrated database: PostgreSQL when configured, else a SQLite file."""
    if _migrated_postgres is not None:
        _empty_tables(_migrated_postgres)
        return _migrated_postgres
    path = tmp_path / "postroom.db"
    shutil.copyfile(_migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def config(database_url: str, data_dir: Path) -> Config:
    return Config.load({}, data_dir=data_dir, database_url=database_url, secret_key="test-secret")


@pytest.fixture
def postroom(config: Config, clock: FrozenClock) -> Iterator[Postroom]:
    with Postroom.open(config=config, clock=clock, migrate_schema=True, immediate_jobs=True) as pr:
        yield pr


@pytest.fixture
def app(postroom: Postroom) -> Flask:
    from postroom.frontends.web import create_app

    return create_app({"TESTING": True}, postroom=postroom)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cli_env(database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "POSTROOM_DATABASE_URL": database_url,
        "POSTROOM_DATA_DIR": str(data_dir),
        "POSTROOM_SECRET_KEY": "test-secret",
    }


@pytest.fixture
def runner(cli_env: dict[str, str]) -> CliRunner:
    return CliRunner(env=cli_env)
