"""Tracking at volume (issue #16): scan-event ingest, and status look-ups by number among
1,000,000 shipments, on SQLite or PostgreSQL.

1. Ingest: EVENTS scan events (default 1,000,000) for SHIPMENTS shipments, written
   through the tracking store (``ShipmentStore.add_scans``, the path a carrier's answer
   takes, in units of work of 100 shipments), beside a raw insert of the same rows into
   the same table in the same run: the driver's ``executemany`` on SQLite, ``COPY`` on
   PostgreSQL. Target: >= 20,000 events/s and >= 0.5 x the raw insert.
2. Look-ups: LOOKUP_SHIPMENTS shipments (default 1,000,000) stored, then the status of
   random numbers: in process (``pr.tracking.status_of``, beside the same read through a
   unit of work and SQLAlchemy's statement, interleaved) and over HTTP (the public
   ``/track?number=`` page on ``postroom serve``, one keep-alive client). p50 and p99.
   Target: p99 under 5 ms in process.

Run: python bench/bench_tracking.py [--events 1000000] [--shipments 10000]
                                    [--lookup-shipments 1000000] [--lookups 20000]
                                    [--database-url postgresql://.../empty_db]
                                    [--no-http] [--realtime]
``--realtime`` (root) looks up again under SCHED_FIFO: the tail without the wait for a
CPU; the CPU time of each ``status_of`` call is printed beside its wall time.
A PostgreSQL database must be empty (it is migrated here); SQLite uses a temporary file.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from stdnum import ean

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.ports import ScanEvent, ShipmentStatus
from postroom.core.tracking.model import Flags, Parties, Shipment
from postroom.core.tracking.store import (
    ShipmentStore,
    scan_values,
    shipment_events,
    shipment_values,
    shipments,
)

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CHICAGO = timezone(timedelta(hours=-6))
BATCH = 100
SERVE = [sys.executable, "-m", "postroom.frontends.cli", "serve"]


def number(serial: int) -> str:
    body = f"94001{serial:016d}"
    return body + ean.calc_check_digit(body)


def shipment(customer: str, serial: int) -> Shipment:
    return Shipment(
        id=0,
        number=number(serial),
        number_format="usps_impb_22",
        carrier="sandbox",
        service="Priority Mail",
        customer_number=customer,
        parties=Parties(),
        mailed_on=None,
        reference=f"ORD-{serial}",
        customs=None,
        status=ShipmentStatus.IN_TRANSIT,
        flags=Flags(),
        created_at=START,
        status_changed_at=START,
        next_check_at=START + timedelta(hours=4),
    )


def seed_shipments(pr: Postroom, customer: str, first: int, count: int) -> list[int]:
    """``count`` shipments written straight into the table (the set-up, not measured)."""
    ids: list[int] = []
    step = 20_000
    for start in range(first, first + count, step):
        rows = [
            shipment_values(shipment(customer, n))
            for n in range(start, min(first + count, start + step))
        ]
        with pr.db.engine.begin() as connection:
            connection.execute(shipments.insert(), rows)
    with pr.db.engine.connect() as connection:
        ids = list(
            connection.execute(
                sa.select(shipments.c.id).where(
                    shipments.c.number.in_([number(n) for n in (first, first + count - 1)])
                )
            ).scalars()
        )
        low, high = min(ids), max(ids)
        return list(range(low, high + 1))


def scans_for(per_shipment: int) -> list[ScanEvent]:
    return [
        ScanEvent(
            (START + timedelta(minutes=37 * k)).astimezone(CHICAGO),
            "10",
            "Arrived at facility",
            f"FACILITY {k % 17}",
            ShipmentStatus.IN_TRANSIT,
        )
        for k in range(per_shipment)
    ]


def ingest_store(pr: Postroom, ids: list[int], scans: list[ScanEvent]) -> float:
    began = time.perf_counter()
    for start in range(0, len(ids), BATCH):

        def work(uow, batch=ids[start : start + BATCH]):  # type: ignore[no-untyped-def]
            store = ShipmentStore(uow.connection)
            for shipment_id in batch:
                store.add_scans(shipment_id, scans)
            uow.commit()

        pr.db.run(work)
    return time.perf_counter() - began


def ingest_raw(pr: Postroom, ids: list[int], scans: list[ScanEvent]) -> float:
    """The same rows, bound the way SQLAlchemy binds them, by the driver alone."""
    columns = [
        "shipment_id",
        "occurred_at",
        "utc_offset_minutes",
        "code",
        "description",
        "location",
        "status",
    ]
    dialect = pr.db.engine.dialect
    moment = shipment_events.c.occurred_at.type.bind_processor(dialect)
    template = [scan_values(0, scan) for scan in scans]
    if moment is not None:
        for row in template:
            row["occurred_at"] = moment(row["occurred_at"])
    raw = pr.db.engine.raw_connection()
    try:
        began = time.perf_counter()
        if dialect.name == "postgresql":
            cursor = raw.cursor()
            for start in range(0, len(ids), BATCH):
                with cursor.copy(  # type: ignore[attr-defined]
                    f"COPY shipment_events ({', '.join(columns)}) FROM STDIN"
                ) as copy:
                    for shipment_id in ids[start : start + BATCH]:
                        for row in template:
                            copy.write_row([shipment_id, *(row[c] for c in columns[1:])])
                raw.commit()
        else:
            placeholders = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO shipment_events ({', '.join(columns)}) VALUES ({placeholders})"
            cursor = raw.cursor()
            for start in range(0, len(ids), BATCH):
                # postroom's SQLite connections run in autocommit and begin their own
                # transactions; without this BEGIN each row would be one
                cursor.execute("BEGIN")
                cursor.executemany(
                    sql,
                    [
                        (shipment_id, *(row[c] for c in columns[1:]))
                        for shipment_id in ids[start : start + BATCH]
                        for row in template
                    ],
                )
                raw.commit()
        return time.perf_counter() - began
    finally:
        raw.close()


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * share) - 1)]


def look_ups(paths: dict[str, Callable[[str], object]], chosen: list[int], how: str) -> None:
    """Each path on the same numbers, interleaved so the machine's load falls on both
    alike: the wall-clock time of each look-up, and for the first path also the CPU
    time its thread spent (the difference is waiting: for a CPU, or for a page)."""
    walls: dict[str, list[float]] = {name: [] for name in paths}
    cpu: list[float] = []
    first = next(iter(paths))
    for serial in chosen:
        for name, look_up in paths.items():
            began, began_cpu = time.perf_counter(), time.thread_time()
            status = look_up(number(serial))
            walls[name].append(time.perf_counter() - began)
            if name == first:
                cpu.append(time.thread_time() - began_cpu)
            assert status is ShipmentStatus.IN_TRANSIT
    print(f"  ({how}{len(chosen):,} look-ups, load average {os.getloadavg()[0]:.1f})")
    for name, taken in walls.items():
        print(f"  {name:<14} {distribution(taken)}")
    print(f"  {first + ' CPU':<14} {distribution(cpu)}")


def distribution(samples: list[float]) -> str:
    shares = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999))
    parts = [f"{name} {percentile(samples, share) * 1000:.3f}" for name, share in shares]
    return ", ".join([*parts, f"max {max(samples) * 1000:.3f} ms"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_lookups(database_url: str, data_dir: Path, serials: list[int]) -> list[float]:
    port = free_port()
    env = {
        **os.environ,
        "POSTROOM_DATA_DIR": str(data_dir),
        "POSTROOM_DATABASE_URL": database_url,
        "POSTROOM_LOG_LEVEL": "WARNING",
        "POSTROOM_TRACK_LOOKUP_RATE_LIMIT": "100000000/minute",
    }
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("postroom serve did not start") from None
                time.sleep(0.2)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        samples = []
        for serial in serials:
            began = time.perf_counter()
            connection.request("GET", f"/track?number={number(serial)}")
            response = connection.getresponse()
            body = response.read()
            samples.append(time.perf_counter() - began)
            assert response.status == 200, response.status
            assert number(serial).encode() in body
        return samples
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--shipments", type=int, default=10_000)
    parser.add_argument("--lookup-shipments", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--no-http", action="store_true", help="in process only")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="look up again under SCHED_FIFO (root): the tail without the wait for a CPU",
    )
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        url = args.database_url or f"sqlite:///{data_dir / 'bench.db'}"
        config = Config.load({}, data_dir=data_dir, database_url=url, secret_key="bench")
        with Postroom.open(config=config, migrate_schema=True) as pr:
            customer = pr.accounts.create("Bench Mailroom", "US", "USD").number
            per = max(1, args.events // args.shipments)
            events = per * args.shipments
            scans = scans_for(per)
            print(f"{pr.db.dialect}: {events:,} scan events, {args.shipments:,} shipments x {per}")
            # raw and store alternate, twice each on fresh shipments: the first round
            # pays the database file's growth, the best of each is reported
            store_seconds = raw_seconds = float("inf")
            for round_ in range(2):
                base = 2 * round_ * args.shipments
                raw_ids = seed_shipments(pr, customer, base, args.shipments)
                store_ids = seed_shipments(pr, customer, base + args.shipments, args.shipments)
                raw_seconds = min(raw_seconds, ingest_raw(pr, raw_ids, scans))
                store_seconds = min(store_seconds, ingest_store(pr, store_ids, scans))
            store_rate, raw_rate = events / store_seconds, events / raw_seconds
            raw_name = "COPY" if pr.db.dialect == "postgresql" else "executemany"
            print(f"  tracking store (add_scans)   {store_rate:12,.0f} events/s")
            print(f"  raw {raw_name:<24} {raw_rate:12,.0f} events/s")
            print(f"  ratio store / raw            {store_rate / raw_rate:12.2f}")

            more = args.lookup_shipments - 4 * args.shipments
            if more > 0:
                began = time.perf_counter()
                seed_shipments(pr, customer, 4 * args.shipments, more)
                print(f"seeded {more:,} more shipments in {time.perf_counter() - began:.0f} s")
            total = max(args.lookup_shipments, 4 * args.shipments)
            chosen = [random.randrange(total) for _ in range(args.lookups)]

            def through_unit_of_work(n: str) -> ShipmentStatus | None:
                # the path before: a unit of work and SQLAlchemy's statement per call
                return pr.db.run(
                    lambda uow: ShipmentStore(uow.connection).status_of(n), readonly=True
                )

            paths = {"status_of": pr.tracking.status_of, "unit of work": through_unit_of_work}
            print(f"status by number among {total:,} shipments, in process:")
            look_ups(paths, chosen, "")
            if args.realtime:
                # the same look-ups with the scheduler's real-time class: what is left of
                # the tail is the code's (and the database's), not the wait for a CPU
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
                try:
                    look_ups(paths, chosen, "SCHED_FIFO, ")
                finally:
                    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        if args.no_http:
            return
        over_http = http_lookups(url, data_dir, chosen[: max(1, min(2_000, args.lookups // 4))])
        print(
            f"  over HTTP (GET /track?number=, {len(over_http):,} look-ups): "
            f"p50 {statistics.median(over_http) * 1000:.2f} ms, "
            f"p99 {percentile(over_http, 0.99) * 1000:.2f} ms"
        )


if __name__ == "__main__":
    main()
