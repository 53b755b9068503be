"""Storage on the real databases: migrations, SQLite settings, units of work, retries."""

import os
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from postroom.core import migrate
from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.db import (
    Database,
    UnitOfWork,
    UtcDateTime,
    insert,
    inserts_together,
    rows_on_driver,
)
from postroom.core.errors import ConfigurationError, StorageUnavailable
from postroom.core.instance import InstanceSettings


def test_opening_a_new_sqlite_file_creates_and_migrates_it(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path / "fresh", secret_key="x")
    with Postroom.open(config=config, clock=clock) as pr:
        assert (tmp_path / "fresh" / "postroom.db").exists()
        assert migrate.is_current(pr.db)
        first_id = pr.instance_id
    with Postroom.open(config=config, clock=clock) as pr:
        assert pr.instance_id == first_id


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with Postroom.open(config=config, clock=clock) as pr, pr.db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_sqlite_write_transaction_holds_the_write_lock_from_its_first_statement(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with Postroom.open(config=config, clock=clock) as pr, pr.db.unit_of_work() as uow:
        uow.connection.exec_driver_sql("SELECT 1")  # a read only: BEGIN IMMEDIATE locked anyway
        other = sqlite3.connect(tmp_path / "postroom.db", timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_sqlite_writers_of_one_process_queue_before_their_begin_immediate(tmp_path, clock):
    # in SQLite's busy handler a waiting writer sleeps 1, 2, 5... up to 100 ms between
    # its tries (measured: about 10 ms late after a 0.1 s wait, 100 ms after 0.33 s);
    # the process's writers queue on a lock instead and begin when the one before ends
    # (the email channel's batches and the outbox's records, issue 14)
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with Postroom.open(config=config, clock=clock) as pr:
        ended = threading.Event()
        begun_after_the_first: list[bool] = []

        @sa.event.listens_for(pr.db.engine, "before_cursor_execute")
        def _sent(*args: object) -> None:
            if threading.current_thread().name == "second writer" and args[2] == "BEGIN IMMEDIATE":
                begun_after_the_first.append(ended.is_set())

        def second_writer() -> None:
            with pr.db.unit_of_work() as uow:
                uow.connection.exec_driver_sql("SELECT 1")

        # two connections in the pool (a new one waits for the lock in its set-up)
        with pr.db.unit_of_work(readonly=True) as one, pr.db.unit_of_work(readonly=True) as two:
            one.connection.exec_driver_sql("SELECT 1")
            two.connection.exec_driver_sql("SELECT 1")
        with pr.db.unit_of_work() as first:
            first.connection.exec_driver_sql("SELECT 1")
            waiting = threading.Thread(target=second_writer, name="second writer")
            waiting.start()
            time.sleep(0.2)  # it is waiting by now
            ended.set()
        waiting.join(10)
        assert begun_after_the_first == [True]
        # a read takes no turn: it runs beside a writer
        with pr.db.unit_of_work(), pr.db.unit_of_work(readonly=True) as reading:
            assert reading.connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_unit_of_work_rolls_back_unless_committed(postroom, clock):
    def write(uow, commit):
        InstanceSettings(uow.connection).set("probe", "written", clock.now())
        if commit:
            uow.commit()

    def read(uow):
        return InstanceSettings(uow.connection).get("probe")

    postroom.db.run(lambda uow: write(uow, commit=False))
    assert postroom.db.run(read, readonly=True) is None

    def fail_half_way() -> None:
        with postroom.db.unit_of_work() as uow:
            write(uow, commit=False)
            raise RuntimeError("use case failed half-way")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert postroom.db.run(read, readonly=True) is None
    postroom.db.run(lambda uow: write(uow, commit=True))
    assert postroom.db.run(read, readonly=True) == "written"


def test_a_data_directory_that_cannot_be_created_is_a_clear_error(tmp_path, clock):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = Config.load({}, data_dir=blocker / "data", secret_key="x")
    with pytest.raises(ConfigurationError, match="cannot create data directory"):
        Postroom.open(config=config, clock=clock)


def test_a_file_that_is_not_a_database_is_reported_unavailable(tmp_path, clock):
    (tmp_path / "postroom.db").write_bytes(b"this is not sqlite" * 100)
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with pytest.raises(StorageUnavailable, match="unavailable"):
        Postroom.open(config=config, clock=clock)


def test_an_unreachable_postgresql_is_reported_unavailable(tmp_path, clock):
    config = Config.load(
        {}, data_dir=tmp_path, secret_key="x", database_url="postgresql://postgres@127.0.0.1:1/x"
    )
    with pytest.raises(StorageUnavailable, match=r"127\.0\.0\.1:1"):
        Postroom.open(config=config, clock=clock)


def test_a_lone_read_on_an_unreachable_database_is_reported_unavailable(tmp_path):
    for url in ("postgresql://postgres@127.0.0.1:1/x", f"sqlite:///{tmp_path}/no/such.db"):
        database = Database(url)
        with pytest.raises(StorageUnavailable, match="unavailable"):
            database.read_alone(f"SELECT {database.placeholder}", (1,))
        with pytest.raises(StorageUnavailable, match="unavailable"):
            database.read_rows(f"SELECT {database.placeholder}", (1,))
        database.dispose()


@pytest.mark.postgres
def test_postgresql_must_be_migrated_explicitly(tmp_path, clock, pg_url):
    admin = sa.create_engine(Database(pg_url).url, isolation_level="AUTOCOMMIT")
    name = f"postroom_unmigrated_{threading.get_ident()}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = Database(pg_url).url.set(database=name).render_as_string(hide_password=False)
    try:
        config = Config.load({}, data_dir=tmp_path, secret_key="x", database_url=url)
        with pytest.raises(ConfigurationError) as caught:
            Postroom.open(config=config, clock=clock)
        assert caught.value.code == "schema_outdated"
        database = Database(url)
        migrate.upgrade(database)
        database.dispose()
        with Postroom.open(config=config, clock=clock) as pr:
            assert migrate.is_current(pr.db)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
def test_serialization_failures_are_retried_until_the_transaction_goes_through(postroom, clock):
    postroom.db.run(
        lambda uow: (
            InstanceSettings(uow.connection).set("counter", "0", clock.now()),
            uow.commit(),
        )
    )
    barrier = threading.Barrier(2)
    attempts: list[int] = []

    def increment(uow):
        attempts.append(1)
        uow.connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        settings = InstanceSettings(uow.connection)
        value = int(settings.get("counter") or 0)
        if len(attempts) <= 2:
            barrier.wait(timeout=10)  # both first attempts read before either writes
        settings.set("counter", str(value + 1), clock.now())
        uow.commit()

    threads = [threading.Thread(target=postroom.db.run, args=(increment,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    final = postroom.db.run(lambda uow: InstanceSettings(uow.connection).get("counter"))
    assert final == "2"
    assert len(attempts) == 3  # one of the two was retried once


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_data_directory_is_a_clear_error(tmp_path, clock):
    data = tmp_path / "ro"
    data.mkdir()
    data.chmod(0o555)
    try:
        config = Config.load({}, data_dir=data, secret_key="x")
        with pytest.raises(ConfigurationError, match="not writable"):
            Postroom.open(config=config, clock=clock)
    finally:
        data.chmod(0o755)


@pytest.mark.postgres
def test_a_transaction_whose_connection_died_runs_again_on_a_new_one(postroom, clock):
    def backend_pid(uow):
        return uow.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()

    before = postroom.db.run(backend_pid)
    # The server restarts (or drops idle connections): every pooled connection is dead.
    admin = sa.create_engine(postroom.db.url, poolclass=sa.NullPool)
    with admin.connect() as connection:
        killed = connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).scalar()
    admin.dispose()
    assert killed >= 1

    def write(uow):
        pid = backend_pid(uow)
        InstanceSettings(uow.connection).set("after-restart", "yes", clock.now())
        uow.commit()
        return pid

    after = postroom.db.run(write)  # no ping before it, no error either: run again once
    assert after != before
    assert postroom.db.run(lambda uow: InstanceSettings(uow.connection).get("after-restart")) == (
        "yes"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("queue", [None, 4242], ids=["alone", "queued"])
def test_a_statement_run_alone_commits_by_itself_and_leaves_the_pool_transactional(
    postroom, clock, queue
):
    db = postroom.db
    db.run(
        lambda uow: (
            InstanceSettings(uow.connection).set("alone", "before", clock.now()),
            uow.commit(),
        )
    )
    update = "UPDATE instance_settings SET value = %(value)s WHERE key = %(key)s RETURNING key"
    assert db.execute_alone(update, {"value": "after", "key": "alone"}, queue=queue) == ("alone",)
    assert db.run(lambda uow: InstanceSettings(uow.connection).get("alone")) == "after"
    assert db.execute_alone(update, {"value": "x", "key": "nothing"}, queue=queue) is None
    with pytest.raises(sa.exc.IntegrityError):
        db.execute_alone(
            "INSERT INTO instance_settings (key, value, updated_at)"
            " SELECT key, value, updated_at FROM instance_settings WHERE key = %(key)s",
            {"key": "alone"},
            queue=queue,
        )
    if queue is not None:
        # The statement runs in the transaction holding the queue's lock...
        holding = (
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
            " AND pid = pg_backend_pid() AND objid = %(key)s AND granted)"
        )
        assert db.execute_alone(holding, {"key": queue}, queue=queue) == (True,)
        assert db.execute_alone(holding, {"key": queue}) == (False,)
        # ...and the lock went with each transaction, failed or not.
        taken = db.run(
            lambda uow: uow.connection.exec_driver_sql(
                f"SELECT pg_try_advisory_xact_lock({queue})"
            ).scalar_one()
        )
        assert taken is True

    def write_then_roll_back(uow):  # the pooled connection is transactional again
        InstanceSettings(uow.connection).set("alone", "rolled back", clock.now())

    db.run(write_then_roll_back)
    assert db.run(lambda uow: InstanceSettings(uow.connection).get("alone")) == "after"


def test_a_write_on_the_sqlite_driver_commits_only_what_it_answers(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'w.db'}")
    with Postroom.open(config=config, clock=clock, migrate_schema=True) as postroom:
        db = postroom.db
        stamp = clock.now().isoformat()
        insert = "INSERT INTO instance_settings (key, value, updated_at) VALUES (?, ?, ?)"

        def write(key):
            return lambda cursor: cursor.execute(insert, (key, "v", stamp)).rowcount or None

        def written():
            return db.run(
                lambda uow: sorted(
                    r[0]
                    for r in uow.connection.exec_driver_sql("SELECT key FROM instance_settings")
                    if r[0] != "instance_id"
                )
            )

        assert db.write_on_driver(write("kept")) == 1
        # Answering None rolls back what was written.
        assert db.write_on_driver(lambda cursor: (write("dropped")(cursor), None)[1]) is None

        def fails(cursor):
            write("half")(cursor)
            raise RuntimeError("cut")

        with pytest.raises(RuntimeError):
            db.write_on_driver(fails)
        # A driver error comes wrapped as SQLAlchemy's, with nothing written.
        with pytest.raises(sa.exc.IntegrityError):
            db.write_on_driver(write("kept"))
        assert written() == ["kept"]
        # The pooled connection is usable, and transactional, afterwards.
        db.run(
            lambda uow: (
                InstanceSettings(uow.connection).set("later", "x", clock.now()),
                uow.commit(),
            )
        )
        assert written() == ["kept", "later"]


def test_postgresql_scans_start_at_the_first_row(pg_url):
    """The knowledge search ranks the first 1,000 matches in the table's order: a scan
    synchronized with another one would start mid-table and answer differently."""
    database = Database(pg_url)
    try:
        with database.engine.connect() as connection:
            setting = connection.exec_driver_sql("SHOW synchronize_seqscans").scalar()
    finally:
        database.dispose()
    assert setting == "off"


@pytest.mark.postgres
def test_a_postgresql_read_keeps_the_connections_prepared_statements(pg_url):
    """A read transaction ends with a COMMIT, not a ROLLBACK: psycopg forgets every
    statement it prepared on a connection at a ROLLBACK, so each read used to cost the
    connection's next transactions their prepared statements."""
    database = Database(pg_url)
    try:
        with database.unit_of_work(readonly=True) as uow:
            driver = uow.connection.connection.dbapi_connection
            driver.execute("SELECT 1 + %s", [1], prepare=True)
            assert driver.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (1,)
        # the read's connection, back in the pool, still holds its prepared statement
        assert driver.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (1,)
        driver.commit()
        # a write transaction left without its commit is still rolled back
        with database.unit_of_work() as uow:
            uow.connection.exec_driver_sql("CREATE TABLE never_made (id int)")
        with database.unit_of_work(readonly=True) as uow:
            made = uow.connection.exec_driver_sql("SELECT to_regclass('never_made')").scalar()
        assert made is None
    finally:
        database.dispose()


def test_inserts_together_go_to_the_store_at_once_and_answer_in_order(postroom, clock):
    """The email channel's batch writes its kept emails, their Message-Ids and their
    acknowledgements together: on PostgreSQL the INSERTs without RETURNING wait for the
    one that returns rows and all go in one round trip (psycopg's pipeline), with the
    values as SQLAlchemy would have sent them; an error among them fails the whole
    transaction."""
    probes = sa.Table(
        "together_probes",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(20), nullable=False, unique=True),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    probes.create(postroom.db.engine)
    paris = clock.now().astimezone(timezone(timedelta(hours=1)))
    returning = probes.insert().returning(probes.c.id, sort_by_parameter_order=True)
    postgres = postroom.db.dialect == "postgresql"
    through_sqlalchemy: list[str] = []
    sa.event.listen(
        postroom.db.engine,
        "before_cursor_execute",
        lambda *args: through_sqlalchemy.append(str(args[2])),
    )

    def names(uow: UnitOfWork) -> list[tuple[str, datetime]]:
        return [(r.name, r.at) for r in uow.connection.execute(sa.select(probes).order_by("id"))]

    with postroom.db.unit_of_work() as uow:
        connection = uow.connection
        with inserts_together(connection):
            assert insert(connection, probes.insert(), [{"name": "first", "at": paris}]) == []
            # on PostgreSQL it waits for the next INSERT that returns rows
            assert len(names(uow)) == (0 if postgres else 1)
            returned = insert(
                connection, returning, [{"name": n, "at": paris} for n in ("second", "third")]
            )
        uow.commit()
    with postroom.db.unit_of_work(readonly=True) as uow:
        assert names(uow) == [
            ("first", clock.now()),
            ("second", clock.now()),
            ("third", clock.now()),
        ]
        ids = [r.id for r in uow.connection.execute(sa.select(probes.c.id).order_by("id"))]
    assert [row[0] for row in returned] == ids[1:]
    if postgres:  # none of the INSERTs went through SQLAlchemy's execute
        assert not [s for s in through_sqlalchemy if "INSERT" in s]

    def a_taken_name(uow: UnitOfWork) -> None:
        with inserts_together(uow.connection):
            insert(uow.connection, probes.insert(), [{"name": "fourth", "at": paris}])
            insert(uow.connection, returning, [{"name": "first", "at": paris}])  # taken
        uow.commit()

    with pytest.raises(sa.exc.IntegrityError):
        postroom.db.run(a_taken_name)
    with postroom.db.unit_of_work(readonly=True) as uow:
        assert [name for name, _at in names(uow)] == ["first", "second", "third"]
    probes.drop(postroom.db.engine)


def test_a_read_on_the_driver_answers_as_sqlalchemy_and_is_planned_each_time(postroom, clock):
    """The email channel's screening read goes straight to psycopg on PostgreSQL,
    planned for its values each time: a plan kept from when the table was small scanned
    all of it as it grew."""
    probes = sa.Table(
        "driver_probes",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    probes.create(postroom.db.engine)
    now = clock.now()
    read = (
        sa.select(probes.c.name, sa.func.count())
        .where(
            probes.c.name.in_(sa.bindparam("names", expanding=True)),
            probes.c.at > sa.bindparam("since"),
        )
        .group_by(probes.c.name)
        .order_by(probes.c.name)
    )
    with postroom.db.unit_of_work() as uow:
        uow.connection.execute(
            probes.insert(),
            [{"name": n, "at": now} for n in ("ann", "bob", "bob", "cy")]
            + [{"name": "ann", "at": now - timedelta(hours=2)}],
        )
        for names in (["ann"], ["ann", "bob"], ["bob", "cy", "dan"]) * 3:
            values = {"names": names, "since": now - timedelta(hours=1)}
            expected = [tuple(r) for r in uow.connection.execute(read, values)]
            found = [tuple(r) for r in rows_on_driver(uow.connection, read, values, prepare=False)]
            assert found == expected
        assert found == [("bob", 2), ("cy", 1)]
        if postroom.db.dialect == "postgresql":
            prepared = uow.connection.execute(
                sa.text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :probes"),
                {"probes": "%driver_probes%"},
            ).scalar()
            assert prepared == 1  # SQLAlchemy's own execution of the read was prepared
        uow.commit()
    probes.drop(postroom.db.engine)
