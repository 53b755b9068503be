"""Inbound support email: messages per second from SMTP to a stored, acknowledged case,
beside the same messages only parsed and stored raw, in the same run (issue #14).

Both paths take the same messages through real SMTP on loopback (aiosmtpd, several
client connections at once):

- ``case``: ``postroom mail serve``'s handler, ``pr.case_mail.receive``: parse, match
  the sender, check and store attachments, open the case (number, routing, SLA
  deadlines, history), keep the raw email and write the acknowledgement to the outbox,
  all before the 250 answer; as in ``postroom mail serve``, a delivery process of its
  own (``frontends.delivery``) sends the acknowledgements in batches over one SMTP
  session to a second loopback server (its own process too), and the clock stops once
  the last one went;
- ``raw``: a handler that parses the message (``email_in.parse_email``) and keeps its
  raw bytes in one transaction of the same table, the least any inbound path does.

Every tenth message carries a PDF; one in five has an HTML alternative. Each path runs
on a fresh database (a new SQLite file; a new PostgreSQL database beside the one given).

Run: python bench/bench_inbound_email.py [--messages 10000] [--clients 4] [--rounds 3]
     [--postgres postgresql://postgres@127.0.0.1:5432/postroom_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from postroom.core.app import Postroom
from postroom.core.cases.email_in import UnreadableEmail, parse_email
from postroom.core.cases.mail_model import Outcome
from postroom.core.cases.mail_store import MailStore, cases_mail_inbound
from postroom.core.config import Config
from postroom.core.db import UnitOfWork
from postroom.core.outbox import outbox_messages
from postroom.frontends import smtp
from postroom.frontends.delivery import delivery_process

PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40


def messages(count: int) -> list[bytes]:
    made = []
    for n in range(count):
        message = EmailMessage()
        message["From"] = f"Customer {n % 3000} <customer{n % 3000}@example.com>"
        message["To"] = "support@acme.example"
        message["Subject"] = f"Meter {n:05d} shows an error"
        message["Message-ID"] = f"<bench.{n}.{uuid.uuid4().hex[:8]}@example.com>"
        message.set_content(
            f"Hello,\n\nmy meter {n:05d} shows error E{n % 97:02d} since this morning.\n"
            "Could you help?\n\nRegards\n"
        )
        if n % 5 == 0:
            message.add_alternative(
                f"<p>Hello,</p><p>my meter <b>{n:05d}</b> shows an error.</p>", subtype="html"
            )
        if n % 10 == 0:
            message.add_attachment(
                PDF, maintype="application", subtype="pdf", filename=f"photo-{n}.pdf"
            )
        made.append(message.as_bytes(policy=SMTP_POLICY))
    return made


class _Controller(Controller):
    def _trigger_server(self) -> None:
        server: Any = self.server
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@contextmanager
def outgoing_server() -> Iterator[int]:
    """The site's outgoing mail server, in a process of its own (as it would be): an
    aiosmtpd sink that takes postroom's acknowledgements. Its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            f"127.0.0.1:{port}",
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait()


class ParseAndKeep:
    """The reference: parse the message and keep its raw bytes, nothing else."""

    def __init__(self, pr: Postroom) -> None:
        self.pr = pr

    def keep(self, raw: bytes, envelope_sender: str | None) -> None:
        try:
            read = parse_email(raw, envelope_sender=envelope_sender)
            sender, subject, message_id = read.sender, read.subject, read.message_id
        except UnreadableEmail:
            sender, subject, message_id = "", "", None
        now = self.pr.clock.now()

        def work(uow: UnitOfWork) -> None:
            MailStore(uow.connection).keep(
                received_at=now,
                source="smtp",
                envelope_sender=envelope_sender,
                sender=sender,
                subject=subject,
                message_id=message_id,
                outcome=Outcome.REJECTED,
                reason="bench_raw_only",
                case_number=None,
                notified=False,
                raw=raw,
            )
            uow.commit()

        self.pr.db.run(work)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.keep, raw, envelope.mail_from)
        return "250 kept"


@contextmanager
def fresh_database(postgres: str | None, folder: Path, name: str) -> Iterator[str]:
    if postgres is None:
        yield f"sqlite:///{folder / (name + '.db')}"
        return
    base = sa.make_url(postgres)
    database = f"{base.database}_{name}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(
        base.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    try:
        yield base.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{database}" WITH (FORCE)')
        admin.dispose()


def _client(port: int, part: list[bytes]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as session:
        session.ehlo("bench.example")
        for raw in part:
            session.mail("customer@example.com")
            session.rcpt("support@acme.example")
            code, answer = session.data(raw)
            if code != 250:
                raise RuntimeError(f"{code} {answer!r}")


def _nothing() -> None:
    return None


def send_all(
    port: int, batch: list[bytes], clients: int, settle: Callable[[], None] = _nothing
) -> float:
    """Send ``batch`` through ``clients`` SMTP sessions at once, then wait for
    ``settle`` (the acknowledgements still on their way out); the seconds it took."""
    parts = [batch[i::clients] for i in range(clients)]
    # the clients in processes of their own (started before the clock): the server's
    # process does only its own work
    with ProcessPoolExecutor(clients) as pool:
        list(pool.map(abs, range(clients)))
        start = time.perf_counter()
        list(pool.map(_client, [port] * clients, parts))
        settle()
        return time.perf_counter() - start


def run(
    path: str, postgres: str | None, batch: list[bytes], clients: int
) -> tuple[float, dict[str, int]]:
    """Messages per second of one path, what it left behind, and the server process's
    CPU a message (the delivery process's not counted)."""
    with (
        outgoing_server() as outgoing_port,
        tempfile.TemporaryDirectory() as folder,
        fresh_database(postgres, Path(folder), path) as url,
    ):
        config = Config.load(
            {},
            data_dir=folder,
            database_url=url,
            secret_key="bench",
            mail_from="Acme Support <support@acme.example>",
            smtp_host="127.0.0.1",
            smtp_port=outgoing_port,
            smtp_security="none",
            cases_mail_per_hour=1_000_000,
        )
        with (
            Postroom.open(config=config, migrate_schema=True) as pr,
            delivery_process(pr) as delivery,  # as postroom mail serve runs it
        ):
            # the case path's clock stops once every acknowledgement went
            settle: Callable[[], None] = delivery.drain if path == "case" else _nothing
            if path == "case":
                server = smtp.start(pr.case_mail, "127.0.0.1", 0)
            else:
                server = _Controller(
                    ParseAndKeep(pr),
                    hostname="127.0.0.1",
                    port=0,
                    data_size_limit=config.cases_mail_max_bytes,
                    decode_data=False,
                )
                server.start()
            cpu = time.process_time()
            try:
                seconds = send_all(server.port, batch, clients, settle)
            finally:
                server.stop()
            # the server's process: a steadier figure than the rate on a shared machine
            cpu_per_message = (time.process_time() - cpu) / len(batch)

            def count(uow: UnitOfWork) -> dict[str, int]:
                t = cases_mail_inbound
                rows = uow.connection.execute(
                    sa.select(t.c.outcome, sa.func.count()).group_by(t.c.outcome)
                )
                left = {str(outcome): int(n) for outcome, n in rows}
                o = outbox_messages
                delivered = uow.connection.execute(
                    sa.select(sa.func.count()).where(o.c.status == "delivered")
                ).scalar_one()
                left["acknowledgements delivered"] = int(delivered)
                return left

            left = pr.db.run(count, readonly=True)
            left["server CPU us/msg"] = round(cpu_per_message * 1e6)
            return len(batch) / seconds, left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres", default=None, help="also run on PostgreSQL (a base URL)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="raw and case alternated this many times a store; the medians compared "
        "(the raw path's rate moves by a fifth between two runs on a 2-core machine)",
    )
    args = parser.parse_args()
    batch = messages(args.messages)
    stores = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    for label, postgres in stores:
        print(f"{label}: {args.messages} messages, {args.clients} SMTP clients", flush=True)
        rates: dict[str, list[float]] = {"raw": [], "case": []}
        for round_ in range(1, args.rounds + 1):
            for path, name in (
                ("raw", "parsed and stored raw"),
                ("case", "stored, acknowledged case"),
            ):
                rate, left = run(path, postgres, batch, args.clients)
                rates[path].append(rate)
                print(f"  {round_}. {name + ':':28s} {rate:8.1f} msg/s  {left}", flush=True)
        raw, case = statistics.median(rates["raw"]), statistics.median(rates["case"])
        print(
            f"  median of {args.rounds}: raw {raw:.1f}, case {case:.1f} msg/s, "
            f"ratio {case / raw:.2f} x",
            flush=True,
        )


if __name__ == "__main__":
    main()
