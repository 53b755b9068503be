"""Storage plumbing: the engine factory, the shared metadata and the unit of work.

SQLite (the embedded default) runs in WAL mode with foreign keys on, a busy
timeout, and every write transaction opened with BEGIN IMMEDIATE so that a
check-then-write cannot interleave with another writer (``with_for_update()``
does nothing on SQLite). The write transactions of one process queue on a lock of the
``Database`` before their BEGIN IMMEDIATE: a writer behind another starts as soon as
that one ends, where SQLite's busy handler sleeps 1, 2, 5... up to 100 ms between its
tries (other processes still meet the busy timeout). PostgreSQL runs on psycopg 3
with a connection pool; serialization failures and deadlocks (SQLSTATE 40001, 40P01)
are retried, and so is a transaction whose connection turned out dead before its COMMIT
was sent (the pool hands out connections without a ping: that ping was one more round
trip per transaction).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from postroom.core.errors import ConfigurationError, StorageUnavailable
from postroom.core.files import private_sqlite

log = logging.getLogger(__name__)

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Every area's tables are defined on this one MetaData (in its store.py).
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
SQLITE_BUSY_TIMEOUT_MS = 30_000
READONLY_OPTION = "postroom_readonly"


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no offset itself)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: use the clock's aware time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def parse_database_url(url: str) -> URL:
    """Parse and normalise a database URL, refusing what postroom cannot use."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        raise ConfigurationError(f"malformed database URL {url!r}") from error
    if parsed.drivername == "postgres":  # the libpq spelling, common in hosting platforms
        parsed = parsed.set(drivername="postgresql")
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database:
            raise ConfigurationError("the PostgreSQL URL names no database")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    else:
        raise ConfigurationError(
            f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://..."
        )
    return parsed


def describe_url(url: URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    return url.render_as_string(hide_password=True)


def create_engine(url: str) -> Engine:
    parsed = parse_database_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        # No pool_pre_ping: Database.run retries a transaction whose connection was found
        # dead before its commit, and a disconnect invalidates the whole pool at once.
        return sa.create_engine(
            parsed,
            pool_size=5,
            max_overflow=10,
            # A table scan starts where the last one of the same table is (a synchronized
            # scan, on a table larger than a quarter of shared_buffers): the knowledge
            # search's "first 1,000 matches" would then differ from one search to the next.
            connect_args={"connect_timeout": 10, "options": "-c synchronize_seqscans=off"},
            # The vault's statements carry the ledger key's HMAC pads: an error message
            # (a log, a traceback) must not repeat them.
            hide_parameters=True,
        )
    except NoSuchModuleError as error:
        raise ConfigurationError(f"no driver for {describe_url(parsed)}") from error
    except ImportError as error:
        # the PostgreSQL driver is an extra: the embedded default needs none
        raise ConfigurationError(
            f"{describe_url(parsed)} needs its driver: pip install 'postroom[postgres]'",
            code="driver_missing",
        ) from error


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory and url.database and not url.database.startswith("file:"):
        path = Path(url.database)
        if path.parent.is_dir():  # else SQLite's own error says what is missing
            private_sqlite(path)  # 0600 before SQLite creates it (core/files.py)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        poolclass=sa.StaticPool if memory else sa.QueuePool,
        **({} if memory else {"pool_size": 16, "max_overflow": 16}),
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        readonly = connection.get_execution_options().get(READONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def is_retryable(error: BaseException) -> bool:
    """A transaction that failed this way can simply be run again."""
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in RETRYABLE_SQLSTATES


@contextlib.contextmanager
def _write_turn(lock: threading.RLock | None) -> Iterator[None]:
    """Hold the process's SQLite write lock (``Database``'s; None: no lock) for the block.
    Reentrant: a nested write of the same thread is not held here, and meets SQLite's
    busy timeout as before; a writer that waited that long goes on without the lock,
    and SQLite's own wait takes over."""
    locked = lock is not None and lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        yield
    finally:
        if locked:
            assert lock is not None
            lock.release()


class UnitOfWork:
    """One transaction: rolled back on exit unless ``commit()`` was called. A read
    (``readonly``: its work writes nothing, though it may lock rows) that ends without an
    error is committed on PostgreSQL instead, which keeps the connection's prepared
    statements (``__exit__``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        readonly: bool = False,
        write_lock: threading.RLock | None = None,
    ) -> None:
        self._engine = engine
        self._readonly = readonly
        self._committed = False
        self.commit_sent = False
        self._connection: Connection | None = None
        # the process's SQLite writers queue here (Database); a read takes no lock
        self._write_lock = None if readonly else write_lock
        self._turn = contextlib.ExitStack()  # holds the write lock until __exit__

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its with-block")
        return self._connection

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def __enter__(self) -> Self:
        self._turn.enter_context(_write_turn(self._write_lock))
        try:
            connection = self._engine.connect()
            if self._readonly:
                connection = connection.execution_options(**{READONLY_OPTION: True})
            try:
                connection.begin()
            except BaseException:
                connection.close()
                raise
        except BaseException:
            self._turn.close()
            raise
        self._connection = connection
        return self

    def commit(self) -> None:
        self.commit_sent = True  # from here on a lost connection leaves the outcome unknown
        self.connection.commit()
        self._committed = True

    def rollback(self) -> None:
        self.connection.rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._connection
        self._connection = None
        if connection is None:
            return
        try:
            if connection.in_transaction():
                if self._readonly and exc_type is None and self.dialect == "postgresql":
                    # psycopg forgets every statement it prepared on the connection at a
                    # ROLLBACK (and sends DEALLOCATE ALL): a read that ended so cost the
                    # next transactions on that connection their prepared statements. A
                    # read wrote nothing (it may have locked rows: the COMMIT frees them)
                    connection.commit()
                else:
                    connection.rollback()
        finally:
            try:
                connection.close()
            finally:
                self._turn.close()


class Database:
    """The store: an engine plus the way use cases run transactions on it."""

    def __init__(self, url: str, *, max_retries: int = 8) -> None:
        self.url = parse_database_url(url)
        self.engine = create_engine(url)
        self.max_retries = max_retries
        #: SQLite: this process's write transactions, one at a time (the module's doc)
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return describe_url(self.url)

    def unit_of_work(self, *, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, readonly=readonly, write_lock=self._write_lock)

    def run(self, work: Callable[[UnitOfWork], T], *, readonly: bool = False) -> T:
        """Run ``work`` in one transaction, retrying it on serialization failure or deadlock.

        ``work`` calls ``uow.commit()`` when its changes should stand. A connection found
        dead (the server restarted, an idle connection dropped) before the commit was
        sent is replaced and ``work`` runs again once: nothing of it was committed.
        """
        reconnected = False
        for attempt in range(self.max_retries + 1):
            uow = self.unit_of_work(readonly=readonly)
            try:
                with uow:
                    return work(uow)
            except DBAPIError as error:
                if is_retryable(error) and attempt < self.max_retries:
                    # Jittered backoff so competing transactions stop colliding.
                    time.sleep(random.uniform(0, 0.005 * 2**attempt))
                    continue
                if error.connection_invalidated and not uow.commit_sent and not reconnected:
                    log.info("database connection lost; running the transaction again")
                    reconnected = True
                    continue
                if error.connection_invalidated or isinstance(error, sa.exc.OperationalError):
                    raise self.unavailable(error) from error
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def execute_alone(
        self, statement: str, params: Mapping[str, Any], *, queue: int | None = None
    ) -> tuple[Any, ...] | None:
        """Run one driver-level ``statement`` (the driver's own placeholders) as its own
        transaction and return its first row: one round trip, and none of SQLAlchemy's
        per-statement work, for a use case that is a single statement hot enough for
        that to show (the vault's posted debit on PostgreSQL).

        With ``queue`` (a PostgreSQL advisory lock key), the transaction first takes
        that lock, in the same round trip: callers that all lock the same rows then
        wait in one queue, and the statement starts with a snapshot taken after the
        wait. Waiting on the rows themselves costs far more when they are hot: each
        waiter wakes to re-read rows that changed under it.

        A driver error is raised wrapped as SQLAlchemy's (IntegrityError...); the
        connection is discarded when the error says it is dead. Never retried here: the
        statement may have committed before its connection was lost.
        """
        with self._driver(statement, params) as driver:
            driver.autocommit = True
            try:
                if queue is None:
                    cursor = driver.execute(statement, params, prepare=True)
                else:
                    # One implicit transaction: the server commits both at the
                    # pipeline's one Sync, or rolls both back.
                    with driver.pipeline():
                        driver.execute(_QUEUE_LOCK, (queue,), prepare=True)
                        cursor = driver.execute(statement, params, prepare=True)
                return cursor.fetchone()  # type: ignore[no-any-return]
            finally:
                if not driver.closed:
                    driver.autocommit = False

    @property
    def placeholder(self) -> str:
        """The driver's positional placeholder, for ``read_alone``'s statements."""
        return "%s" if self.dialect == "postgresql" else "?"

    def read_alone(self, statement: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """Run one driver-level read ``statement`` (positional ``placeholder``s) outside
        any transaction of ours and return its first row: no unit of work, no
        SQLAlchemy compilation, a statement the driver prepares once (SQLite's statement
        cache, psycopg's ``prepare=True``), for a look-up so hot that the rest shows (the
        tracking status by number). It sees the last committed state, as any read does.

        A lost or unreachable database is ``StorageUnavailable`` (the connection is
        discarded); another driver error is raised wrapped as SQLAlchemy's. Never
        retried here.
        """
        row: tuple[Any, ...] | None = self._read(statement, params, lambda c: c.fetchone())
        return row

    def read_rows(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """``read_alone``, answering every row (a search's ranked hits)."""
        rows: list[tuple[Any, ...]] = self._read(statement, params, lambda c: c.fetchall())
        return rows

    def _read(self, statement: str, params: Sequence[Any], fetch: Callable[[Any], T]) -> T:
        try:
            with self._driver(statement, None) as driver:
                if self.dialect != "postgresql":
                    # postroom's SQLite connections are in autocommit: the SELECT is alone
                    return fetch(driver.execute(statement, params))
                driver.autocommit = True
                try:
                    return fetch(driver.execute(statement, params, prepare=True))
                finally:
                    if not driver.closed:
                        driver.autocommit = False
        except DBAPIError as error:
            if error.connection_invalidated or isinstance(error, sa.exc.OperationalError):
                raise self.unavailable(error) from error
            raise
        except self.engine.dialect.loaded_dbapi.OperationalError as error:
            raise self.unavailable(error) from error  # no connection could be made

    def write_on_driver(self, work: Callable[[Any], T | None]) -> T | None:
        """Run ``work`` with a driver cursor of an SQLite write transaction of its own
        (BEGIN IMMEDIATE: the database's one write lock), for a hot path too small for
        SQLAlchemy's per-statement work (the vault's posted debit). It commits when
        ``work`` answers, and rolls back when it answers None or raises.

        A driver error is raised wrapped as SQLAlchemy's (IntegrityError...).
        """
        with _write_turn(self._write_lock), self._driver("BEGIN IMMEDIATE", None) as driver:
            cursor = driver.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                done = work(cursor)
                cursor.execute("COMMIT" if done is not None else "ROLLBACK")
                return done
            finally:
                if driver.in_transaction:
                    driver.rollback()
                cursor.close()

    @contextlib.contextmanager
    def _driver(self, statement: str, params: Mapping[str, Any] | None) -> Iterator[Any]:
        """A pooled connection's driver connection, for the caller alone until the block
        ends. A driver error in the block is raised wrapped as SQLAlchemy's, naming
        ``statement``; the connection is discarded when the error says it is dead."""
        dbapi = self.engine.dialect.loaded_dbapi
        pooled = self.engine.raw_connection()
        try:
            driver = pooled.driver_connection
            assert driver is not None
            yield driver
        except dbapi.Error as error:
            raise _driver_error(
                self.engine.dialect, pooled, error, statement, params, pooled.invalidate
            ) from error
        finally:
            pooled.close()

    def unavailable(self, error: BaseException) -> StorageUnavailable:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0:1]
        detail = reason[0] if reason else type(error).__name__
        return StorageUnavailable(f"database {self.display_url} is unavailable: {detail}")

    def check(self) -> None:
        """Raise StorageUnavailable unless the database answers a query (a pooled
        connection found dead is replaced once, as in ``run``)."""
        try:
            self.run(lambda uow: uow.connection.exec_driver_sql("SELECT 1"), readonly=True)
        except DBAPIError as error:
            raise self.unavailable(error) from error

    def dispose(self) -> None:
        self.engine.dispose()


#: An advisory lock held to the end of the transaction (``execute_alone``'s queue).
_QUEUE_LOCK = "SELECT pg_advisory_xact_lock(%s)"


#: ``inserts_together``'s waiting INSERTs, in the connection's ``info``
_TOGETHER = "postroom.inserts_together"


@contextlib.contextmanager
def inserts_together(connection: Connection) -> Iterator[None]:
    """Within the block, an ``insert`` on ``connection`` of a statement without
    RETURNING waits, and goes to the server with the next ``insert`` that returns rows,
    or at the block's end. On PostgreSQL they go in one round trip (psycopg's pipeline
    mode), for the writes of a batch that depend on nothing the others return (issue
    14's inbound email: the emails kept, their Message-Ids, their acknowledgements).
    Elsewhere each runs at once. An error of a waiting INSERT is raised where they go."""
    if connection.dialect.name != "postgresql" or _TOGETHER in connection.info:
        yield
        return
    waiting: list[tuple[sa.Insert, Sequence[Mapping[str, Any]]]] = []
    connection.info[_TOGETHER] = waiting
    try:
        yield
        if waiting:
            _pipelined(connection, waiting)
    finally:
        del connection.info[_TOGETHER]


def insert(
    connection: Connection, statement: sa.Insert, rows: Sequence[Mapping[str, Any]]
) -> list[Sequence[Any]]:
    """``statement`` for each of ``rows`` (one statement, or SQLAlchemy's executemany)
    on ``connection``'s transaction: the rows its RETURNING gave, in the order of
    ``rows`` (none without RETURNING). Inside ``inserts_together``, see there."""
    if not rows:
        return []
    waiting = connection.info.get(_TOGETHER)
    if waiting is None:
        result = connection.execute(statement, list(rows))
        return list(result) if result.returns_rows else []
    waiting.append((statement, rows))
    if not statement.exported_columns:
        return []
    try:
        return _pipelined(connection, waiting)[-1]
    finally:
        waiting.clear()


#: statements compiled for the driver, by statement and the values given (the
#: statements are built once, at import, or kept by their builders)
_DRIVER_STATEMENTS: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _for_driver(
    dialect: sa.Dialect, statement: Any, values: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """``statement``'s SQL and parameters for the driver, with ``values`` passed through
    their bind processors as SQLAlchemy's own execution would pass them (expanding IN
    lists rendered for their lengths)."""
    key = (statement, tuple(values))
    compiled = _DRIVER_STATEMENTS.get(key)
    if compiled is None:
        if len(_DRIVER_STATEMENTS) > 512:  # a statement built per call: keep none
            _DRIVER_STATEMENTS.clear()
        compiled = _DRIVER_STATEMENTS[key] = statement.compile(
            dialect=dialect, column_keys=list(key[1])
        )
    state = compiled.construct_expanded_state(values)
    params = dict(state.parameters)
    processors: Mapping[str, Any] = state.processors  # callables here (no tuples)
    for name, process in processors.items():
        if name in params:
            params[name] = process(params[name])
    return str(state.statement), params


def rows_on_driver(
    connection: Connection,
    statement: Any,
    values: Mapping[str, Any],
    *,
    prepare: bool | None = None,
) -> list[Sequence[Any]]:
    """The rows of ``statement`` (a SELECT, or a write with RETURNING) for ``values``,
    in ``connection``'s transaction, as the driver gives them: no result processing, so
    only for columns of text, numbers and booleans. On PostgreSQL it goes straight to
    psycopg, where ``prepare=False`` has the server plan it for its values each time:
    psycopg prepares a statement after a few executions, and the server may then keep
    one generic plan made while a table was small, a scan of the whole table that grows
    with it (issue 14's inbound email on a new database). Elsewhere SQLAlchemy runs
    it."""
    if connection.dialect.name != "postgresql":
        return list(connection.execute(statement, dict(values)))
    sql, params = _for_driver(connection.dialect, statement, values)
    with _driver_in(connection, sql) as driver, driver.cursor() as cursor:
        cursor.execute(sql, params, prepare=prepare)
        return list(cursor.fetchall())


def _pipelined(
    connection: Connection, parts: Sequence[tuple[sa.Insert, Sequence[Mapping[str, Any]]]]
) -> list[list[Sequence[Any]]]:
    """PostgreSQL: each ``(statement, rows)`` of ``parts`` (rows of the same columns)
    sent in one pipeline (one round trip for them all); what each returned. The values
    pass through their columns' bind processors, as SQLAlchemy's own execution would
    have them."""
    dialect = connection.dialect
    sent: list[tuple[str, list[dict[str, Any]], bool]] = []
    for statement, rows in parts:
        prepared = [_for_driver(dialect, statement, row) for row in rows]
        params = [values for _sql, values in prepared]
        sent.append((prepared[0][0], params, bool(statement.exported_columns)))
    with _driver_in(connection, ";\n".join(sql for sql, _params, _r in sent)) as driver:
        cursors = []
        with driver.pipeline():
            for sql, params, returning in sent:
                cursor = driver.cursor()
                cursor.executemany(sql, params, returning=returning)
                cursors.append((cursor, returning))
        returned: list[list[Sequence[Any]]] = []
        for cursor, returning in cursors:
            rows_back: list[Sequence[Any]] = []
            while returning:
                rows_back.extend(cursor.fetchall())
                returning = bool(cursor.nextset())
            cursor.close()
            returned.append(rows_back)
        return returned


@contextlib.contextmanager
def _driver_in(connection: Connection, statement: str) -> Iterator[Any]:
    """``connection``'s driver connection, inside its transaction; a driver error in the
    block is raised wrapped as SQLAlchemy's (IntegrityError...), naming ``statement``,
    and the connection is invalidated when the error says it is dead."""
    pooled = connection.connection
    driver = pooled.driver_connection
    assert driver is not None
    try:
        yield driver
    except connection.dialect.loaded_dbapi.Error as error:
        raise _driver_error(
            connection.dialect, pooled, error, statement, None, connection.invalidate
        ) from error


def copy_rows(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
) -> int:
    """Append ``rows`` to ``table`` with PostgreSQL's COPY, inside ``connection``'s
    transaction, and return how many went in: the server's bulk path, with no statement
    to parse per row. A driver error is raised wrapped as SQLAlchemy's, as any other."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with _driver_in(connection, f"COPY {table}") as driver, driver.cursor() as cursor:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return int(cursor.rowcount)


def _driver_error(
    dialect: sa.Dialect,
    pooled: Any,
    error: Any,
    statement: str,
    params: Mapping[str, Any] | None,
    invalidate: Callable[[BaseException], None],
) -> sa.exc.StatementError:
    """A driver ``error`` raised outside SQLAlchemy's execute, wrapped as SQLAlchemy
    wraps it (IntegrityError...); the connection is invalidated when it is dead."""
    dead = dialect.is_disconnect(error, pooled, None)
    if dead:
        invalidate(error)
    wrapped: sa.exc.StatementError = DBAPIError.instance(
        statement,
        params,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,  # as the engine: the ledger key's pads are parameters
        connection_invalidated=dead,
    )
    return wrapped
