"""Shared fixtures.

Integration tests run on SQLite by default and on PostgreSQL when
POSTROOM_TEST_DATABASE_URL names a database (the tox ``postgres`` env): the
schema is migrated once per session there and every table emptied between tests.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import ssl
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from postroom.core import migrate, schema
from postroom.core.accounts import model as accounts_model
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.db import Database
from postroom.core.identity import model as identity_model

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


#: argon2id at its cheapest: the tests hash hundreds of passwords, PINs and
#: security answers, each a quarter of a second at the production setting on a busy CI
#: machine. The hash is still argon2id, verified the same way (its parameters travel in
#: the hash); a test marked ``production_argon2`` (the ones pinning that setting) keeps it.
CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("production_argon2"):
        return
    monkeypatch.setattr(identity_model, "PASSWORD_HASHER", CHEAP_ARGON2)
    monkeypatch.setattr(accounts_model, "PIN_HASHER", CHEAP_ARGON2)


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

    One round trip: a DO block deletes, with triggers off (``session_replication_role``,
    a superuser's setting: the ledger's own triggers refuse deletes), from each table
    that has a row, and restarts the sequences. DELETE takes a quarter of TRUNCATE's time
    on these small tables, and this runs before every PostgreSQL test; TRUNCATE is the
    fallback."""
    engine = _EMPTYING_ENGINES.get(url)
    if engine is None:
        # pre-ping: some tests terminate every backend, this engine's pooled one too
        engine = _EMPTYING_ENGINES[url] = sa.create_engine(Database(url).url, pool_pre_ping=True)
    tables = [f'"{table.name}"' for table in reversed(schema.metadata.sorted_tables)]
    deletes = "\n".join(
        f"IF EXISTS (SELECT FROM {table}) THEN DELETE FROM {table}; END IF;" for table in tables
    )
    block = f"""
        DO $empty$
        DECLARE sequence text;
        BEGIN
            SET LOCAL session_replication_role = replica;
            {deletes}
            FOR sequence IN
                SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename)
                FROM pg_sequences WHERE last_value IS NOT NULL  -- drawn from since restart
            LOOP
                EXECUTE 'ALTER SEQUENCE ' || sequence || ' RESTART';
            END LOOP;
        END
        $empty$"""
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(block)
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


#: The time the ``clock`` fixture starts at.
TEST_TIME = "2026-03-02T09:30:00+00:00"


@pytest.fixture(scope="session")
def _shipped_sqlite(tmp_path_factory: pytest.TempPathFactory, _migrated_sqlite: Path) -> Path:
    """The migrated template with the shipped help articles loaded (as at ``TEST_TIME``),
    once per test process: loading them takes about a second, and a test that reads the
    help centre copies this file instead."""
    folder = tmp_path_factory.mktemp("shipped")
    path = folder / "postroom.db"
    shutil.copyfile(_migrated_sqlite, path)
    config = Config.load({}, data_dir=folder, database_url=f"sqlite:///{path}")
    with Postroom.open(
        config=config, clock=FrozenClock.at(TEST_TIME), immediate_jobs=True
    ) as postroom:
        assert postroom.knowledge.load_shipped_articles() >= 80
    return path


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _migrated_postgres: str | None,
    _migrated_sqlite: Path,
) -> str:
    """A fresh, migrated database: PostgreSQL when configured, else a SQLite file. Empty,
    but for the shipped help articles where the test asks for ``shipped_articles``."""
    if _migrated_postgres is not None:
        _empty_tables(_migrated_postgres)
        return _migrated_postgres
    template = (
        request.getfixturevalue("_shipped_sqlite")
        if "shipped_articles" in request.fixturenames
        else _migrated_sqlite
    )
    path = tmp_path / "postroom.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at(TEST_TIME)


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
def shipped_articles(postroom: Postroom, _migrated_postgres: str | None) -> Postroom:
    """``postroom`` with the shipped help articles published: copied with the SQLite file
    (``database_url``), loaded here on PostgreSQL."""
    if _migrated_postgres is not None:
        assert postroom.knowledge.load_shipped_articles() >= 80
    return postroom


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


# ------------------------------------------------------------------ a real SMTP server


@attrs.frozen
class ReceivedMail:
    """One message the SMTP server accepted: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    #: the user name the client logged in with (None: no AUTH)
    login: str | None
    #: whether the session ran over TLS (STARTTLS or implicit)
    secure: bool
    #: the client's address and port: one per SMTP session
    peer: tuple[str, int] = ("", 0)


@attrs.define
class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 (a free port) that keeps what it receives.

    ``settings`` are the postroom settings that send to it (``Config.load({},
    **server.settings)``), ``env`` the same as environment variables for a CLI or a
    server process. ``wait_for(n)`` waits (without sleeping blindly) until ``n``
    messages arrived, for mail sent by another thread or process."""

    host: str
    port: int
    security: str
    received: list[ReceivedMail] = attrs.field(factory=list)
    #: the next this-many messages are answered 451 (try again later), like a busy server
    defer: int = 0
    deferred: list[EmailMessage] = attrs.field(factory=list)
    _arrived: threading.Condition = attrs.field(factory=threading.Condition)

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    @property
    def settings(self) -> dict[str, Any]:
        return {"smtp_host": self.host, "smtp_port": self.port, "smtp_security": self.security}

    @property
    def env(self) -> dict[str, str]:
        return {
            "POSTROOM_SMTP_HOST": self.host,
            "POSTROOM_SMTP_PORT": str(self.port),
            "POSTROOM_SMTP_SECURITY": self.security,
        }

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} message(s) arrived, not {count}")
        return self.messages

    # aiosmtpd's handler hook
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        if self.defer > 0:
            self.defer -= 1
            self.deferred.append(parsed)
            return "451 4.3.0 Busy, try again later"
        login = session.auth_data
        secure = session.ssl is not None or server.transport.get_extra_info("ssl_object")
        with self._arrived:
            self.received.append(
                ReceivedMail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    message=parsed,
                    login=None if login is None else login.login.decode(),
                    secure=bool(secure),
                    peer=tuple(session.peer[:2]),
                )
            )
            self._arrived.notify_all()
        return "250 Message accepted for delivery"


def _start_smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    logins: dict[str, str] | None = None,
) -> tuple[SmtpServer, Callable[[], None]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class LoopbackController(Controller):
        # port 0 lets the system choose a free port: read it back once bound.
        def _trigger_server(self) -> None:
            assert self.server is not None
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        user = auth.login.decode()
        ok = logins is not None and logins.get(user) == auth.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth)

    security = "tls" if implicit_tls else "starttls" if starttls else "none"
    server = SmtpServer(host="127.0.0.1", port=0, security=security)
    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if logins is not None:
        options.update(authenticator=authenticate, auth_require_tls=True)
    controller = LoopbackController(
        server, hostname="127.0.0.1", port=0, ssl_context=implicit_tls, **options
    )
    controller.start()
    server.port = controller.port
    return server, controller.stop


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server on loopback that collects what postroom sends it."""
    server, stop = _start_smtp_server()
    try:
        yield server
    finally:
        stop()


@pytest.fixture(scope="module")
def module_smtp_server() -> Iterator[SmtpServer]:
    """``smtp_server`` for a whole module: for one server process shared by its tests."""
    server, stop = _start_smtp_server()
    try:
        yield server
    finally:
        stop()


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Starts SMTP servers with ``starttls=`` or ``implicit_tls=`` (an ``ssl.SSLContext``
    with the server's certificate) and ``logins={"user": "password"}``; all stopped
    after the test."""
    stops: list[Callable[[], None]] = []

    def start(**options: Any) -> SmtpServer:
        server, stop = _start_smtp_server(**options)
        stops.append(stop)
        return server

    try:
        yield start
    finally:
        for stop in stops:
            stop()
