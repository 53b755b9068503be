"""Support cases: SLA deadlines computed per second, and the console's queue query over a
million cases (p50/p99 per common filter) on SQLite and PostgreSQL.

Run: python bench/bench_cases.py [--sla 100000] [--cases 1000000]
         [--postgres-url postgresql://.../db_the_benchmark_may_fill] [--skip-sqlite]

SLA: the deadlines of a case (first response and resolution: one business position and
two look-ups, ``core/cases/sla.py``) for cases opened at random moments of 2026 in New
York, Paris and Quebec (its holidays), every priority; beside it, in the same run, the
reference a calendar without precomputation would be: walking the business hours one
by one (on fewer cases: it is slow). Figures are per wall-clock second of one process.

Queue: ``pr.cases.queue`` (what the console calls: the query, the cases' links, the
domain objects) over ``--cases`` rows, bulk-inserted with the driver (SQLite
executemany in one transaction; PostgreSQL COPY); most cases closed, as on a desk that
has worked for years. Each filter runs ``--queries`` times with varying values.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from postroom.core.app import Postroom
from postroom.core.cases import sla
from postroom.core.cases.calendar import HOUR, BusinessCalendar, calendar_for
from postroom.core.cases.model import (
    PRIORITY_RANK,
    Actor,
    Case,
    Channel,
    Contact,
    Department,
    Priority,
    QueueFilter,
    SlaTargets,
    Status,
)
from postroom.core.cases.store import cases as cases_table
from postroom.core.clock import FrozenClock
from postroom.core.config import Config

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 16, 15, tzinfo=UTC)  # a Monday, 10:00 in New York
AGENT = Actor.staff(1, "bench", role="supervisor")
CALENDARS = (
    ("America/New_York", "US", None),
    ("Europe/Paris", "FR", None),
    ("America/Toronto", "CA", "QC"),
)


def a_case(opened: datetime, priority: Priority, **changes: Any) -> Case:
    return Case(
        id=0,
        number="C-2026-000000",
        customer_number=None,
        contact=Contact(),
        department=Department.EQUIPMENT,
        channel=Channel.WEB,
        subject="bench",
        description="bench",
        priority=priority,
        status=Status.OPEN,
        opened_at=opened,
        updated_at=opened,
        **changes,
    )


# --------------------------------------------------------------------- SLA


def hour_walk(calendar: BusinessCalendar, moment: datetime, hours: int) -> datetime:
    """The reference: step through time an hour (or to the next opening) at a time."""
    local = moment.astimezone(calendar._zone)
    left = hours * HOUR
    while left > 0:
        day_open = local.replace(hour=9, minute=0, second=0, microsecond=0)
        day_close = local.replace(hour=17, minute=0, second=0, microsecond=0)
        if not calendar.is_business_day(local.date()) or local >= day_close:
            local = (day_open + timedelta(days=1)).replace(hour=9)
            continue
        local = max(local, day_open)
        step = min(left, int((day_close - local).total_seconds()), HOUR)
        local += timedelta(seconds=step)
        left -= step
    return local.astimezone(UTC)


def sla_bench(count: int) -> None:
    rng = random.Random(7)
    targets = SlaTargets()
    calendars = [calendar_for(*key) for key in CALENDARS]
    work = []
    for _ in range(count):
        opened = START + timedelta(seconds=rng.randrange(330 * 86400))
        priority = rng.choice(list(Priority))
        work.append(
            (
                a_case(opened, priority, paused_seconds=rng.choice((0, 0, 3600))),
                rng.choice(calendars),
            )
        )
    for case, calendar in work[:1000]:  # warm the spans
        sla.deadlines(case, calendar, targets)
    started = time.perf_counter()
    for case, calendar in work:
        sla.deadlines(case, calendar, targets)
    elapsed = time.perf_counter() - started
    # each case has two deadlines: computations are twice the cases
    print(f"SLA deadlines (first response + resolution) of {count:,} cases: {elapsed:.2f} s")
    print(f"  {count / elapsed:,.0f} cases/s, {2 * count / elapsed:,.0f} due-time computations/s")
    sample = work[: max(1, count // 50)]
    started = time.perf_counter()
    for case, calendar in sample:
        for hours in (targets.first_response[case.priority], targets.resolution[case.priority]):
            expected = calendar.add(case.opened_at, hours * HOUR + case.paused_seconds)
            walked = hour_walk(calendar, case.opened_at, hours + case.paused_seconds // HOUR)
            assert walked == expected or case.paused_seconds, (case.opened_at, hours)
    elapsed = time.perf_counter() - started
    # the loop above also runs the fast path once per deadline: negligible beside the walk
    print(
        f"  reference (hour-by-hour walk), {len(sample):,} cases: "
        f"{2 * len(sample) / elapsed:,.0f} due-time computations/s"
    )


# ------------------------------------------------------------------- queue

DEPARTMENTS = list(Department)
CHANNELS = list(Channel)
PRIORITIES = list(Priority)
AGENTS = list(range(1, 41))


def rows(count: int, accounts: list[str]) -> Iterator[tuple[Any, ...]]:
    """Cases as the table's columns, oldest first: 88% resolved or closed, 4% waiting on
    the customer, the rest active (new, open, escalated) with running deadlines."""
    rng = random.Random(11)
    span = (NOW - START).total_seconds()
    for n in range(1, count + 1):
        opened = START + timedelta(seconds=span * n / count)
        roll = rng.random()
        active = roll >= 0.92 or n > count - 2000
        waiting = 0.88 <= roll < 0.92
        status = (
            rng.choice((Status.NEW, Status.OPEN, Status.OPEN, Status.ESCALATED))
            if active
            else Status.WAITING
            if waiting
            else rng.choice((Status.RESOLVED, Status.CLOSED, Status.CLOSED))
        )
        priority = rng.choices(PRIORITIES, weights=(2, 6, 3, 1))[0]
        first_due = opened + timedelta(hours=rng.randrange(2, 48))
        resolution_due = first_due + timedelta(hours=rng.randrange(8, 200))
        responded = None if status is Status.NEW else opened + timedelta(hours=1)
        next_due = (first_due if responded is None else resolution_due) if active else None
        # the recent active cases' deadlines lie around now: some breached, some due soon
        if active and n > count - 2000:
            next_due = NOW + timedelta(minutes=rng.randrange(-600, 3000))
        yield (
            f"C-{opened.year}-{n:06d}" if n < 10**6 else f"C-2025-{n - 10**6 + 1:06d}",
            rng.choice(accounts),
            "Bench Contact",
            "bench@example.com",
            "",
            "",
            rng.choice(DEPARTMENTS).value,
            rng.choice(CHANNELS).value,
            f"Case {n}",
            "bench",
            priority.value,
            PRIORITY_RANK[priority],
            status.value,
            rng.choice(AGENTS) if rng.random() < 0.9 else None,
            opened,
            opened,
            responded,
            None,
            None,
            opened if waiting else None,
            0,
            first_due,
            resolution_due,
            next_due or datetime(9999, 1, 1, tzinfo=UTC),
            opened if status is Status.ESCALATED else None,
            "",
            None,
            None,
            rng.random() < 0.05,
            None,
        )


COLUMNS = (
    "number, customer_number, contact_name, contact_email, contact_phone, contact_details, "
    "department, channel, subject, description, priority, priority_rank, status, "
    "assignee_id, opened_at, updated_at, first_response_at, resolved_at, closed_at, "
    "waiting_since, paused_seconds, first_response_due, resolution_due, queue_due_at, "
    "escalated_at, escalation_reason, warned_at, breached_at, recurring, merged_into"
)


def fill(pr: Postroom, count: int) -> float:
    """Insert ``count`` cases with the driver, the table's indexes dropped first and
    built again after (as a bulk load does); the seconds it took, indexes included."""
    accounts = [pr.accounts.create(f"Bench {n}", "US", "USD").number for n in range(200)]
    indexes = list(cases_table.indexes)  # the priority queue's too (store.py)
    started = time.perf_counter()
    with pr.db.engine.begin() as connection:
        for index in indexes:
            index.drop(connection)
    raw = pr.db.engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        if pr.db.dialect == "postgresql":
            statement = f"COPY cases ({COLUMNS}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(statement) as copying:
                for row in rows(count, accounts):
                    copying.write_row(row)
            driver.commit()
        else:
            marks = ", ".join("?" * len(COLUMNS.split(",")))
            # as SQLAlchemy stores an aware UTC moment on SQLite (core/db.py UtcDateTime)
            sqlite_rows = (
                tuple(
                    v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                    if isinstance(v, datetime)
                    else v
                    for v in row
                )
                for row in rows(count, accounts)
            )
            driver.execute("BEGIN IMMEDIATE")
            driver.executemany(f"INSERT INTO cases ({COLUMNS}) VALUES ({marks})", sqlite_rows)
            driver.execute("COMMIT")
    finally:
        raw.close()
    with pr.db.engine.begin() as connection:
        for index in indexes:
            index.create(connection)
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def filters() -> list[tuple[str, Callable[[random.Random], QueueFilter]]]:
    active = (Status.NEW, Status.OPEN, Status.ESCALATED)
    return [
        ("status=open", lambda r: QueueFilter(statuses=(Status.OPEN,))),
        ("status=closed (page 3)", lambda r: QueueFilter(statuses=(Status.CLOSED,), offset=100)),
        (
            "department, active",
            lambda r: QueueFilter(statuses=active, department=r.choice(DEPARTMENTS)),
        ),
        ("department (any status)", lambda r: QueueFilter(department=r.choice(DEPARTMENTS))),
        ("assignee (my cases)", lambda r: QueueFilter(assignee_id=r.choice(AGENTS))),
        ("assignee, active", lambda r: QueueFilter(statuses=active, assignee_id=r.choice(AGENTS))),
        ("priority=urgent", lambda r: QueueFilter(priority=Priority.URGENT)),
        ("channel", lambda r: QueueFilter(channel=r.choice(CHANNELS))),
        ("due within 4 h", lambda r: QueueFilter(due_within=timedelta(hours=4))),
        ("breached", lambda r: QueueFilter(breached=True)),
        (
            "breached, department",
            lambda r: QueueFilter(breached=True, department=r.choice(DEPARTMENTS)),
        ),
        ("escalated", lambda r: QueueFilter(escalated=True)),
        (
            "unassigned, department",
            lambda r: QueueFilter(unassigned=True, department=r.choice(DEPARTMENTS)),
        ),
        (
            "priority queue (supervisors)",
            lambda r: QueueFilter(statuses=(Status.ESCALATED,), by_priority=True),
        ),
    ]


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def queue_bench(url: str | None, count: int, queries: int, label: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = Config.load({}, data_dir=folder, database_url=url, secret_key="bench")
        with Postroom.open(config=config, clock=FrozenClock(NOW), migrate_schema=True) as pr:
            with pr.db.engine.connect() as connection:
                existing = connection.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
            if existing:
                raise SystemExit(f"{label}: the cases table is not empty; give an empty database")
            seconds = fill(pr, count)
            print(
                f"{label}: {count:,} cases inserted in {seconds:.1f} s ({count / seconds:,.0f}/s)"
            )
            rng = random.Random(3)
            # wall time is what the agent waits; CPU time of this process is what the query
            # costs where the machine is shared (the wall time then includes the waits
            # for a core; the database's own time is in both on SQLite, only in the wall
            # time on PostgreSQL, another process)
            print(f"  {'filter':<30} {'p50 ms':>8} {'p99 ms':>8} {'p99 CPU ms':>10} {'rows':>5}")
            for name, make in filters():
                pr.cases.queue(make(rng), by=AGENT)  # once to warm the page cache
                samples: list[float] = []
                cpu: list[float] = []
                found = 0
                for _ in range(queries):
                    query = make(rng)
                    started, started_cpu = time.perf_counter(), time.process_time()
                    found = len(pr.cases.queue(query, by=AGENT))
                    samples.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - started_cpu) * 1000)
                print(
                    f"  {name:<30} {statistics.median(samples):>8.2f} {p99(samples):>8.2f} "
                    f"{p99(cpu):>10.2f} {found:>5}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sla", type=int, default=100_000, help="cases (0: skip)")
    parser.add_argument("--cases", type=int, default=1_000_000, help="queue rows (0: skip)")
    parser.add_argument("--queries", type=int, default=200, help="runs of each filter")
    parser.add_argument("--postgres-url", help="an empty, migrated-or-new database to fill")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if args.sla:
        sla_bench(args.sla)
    if args.cases:
        if not args.skip_sqlite:
            queue_bench(None, args.cases, args.queries, "SQLite")
        if args.postgres_url:
            queue_bench(args.postgres_url, args.cases, args.queries, "PostgreSQL")


if __name__ == "__main__":
    main()
