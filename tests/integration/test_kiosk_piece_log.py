"""One piece log (issue 18): a piece a terminal printed is one row of ``kiosk_pieces``,
whether the terminal's queue logged it for the reports, its signed report booked it, or
both; and migration kiosks_0003 moves the rows of the former ``kiosk_meter_pieces`` into
it and drops that table, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from test_kiosk_meter import SERIAL, _signed_piece, sim  # noqa: F401 (sim: a fixture)

from postroom.core import migrate
from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.db import Database
from postroom.core.kiosks.meter_pieces import MeterPrint
from postroom.core.kiosks.model import KioskPiece, PieceSource
from postroom.core.money import Money
from postroom.hal.meter.simulator import MeterSimulator


def _rows(postroom: Postroom) -> list[dict[str, object]]:
    with postroom.db.engine.connect() as connection:
        found = connection.execute(sa.text("SELECT * FROM kiosk_pieces ORDER BY piece"))
        return [dict(row._mapping) for row in found]


def test_a_meter_piece_logged_and_reported_signed_is_one_row(
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
    sim: MeterSimulator,  # noqa: F811
) -> None:
    record, signature = _signed_piece(sim, postroom)
    queued = KioskPiece(
        SERIAL,
        1,
        postroom.clock.now(),
        Money(730, "USD"),
        "usps",
        "first-class-letter",
        "Legal",
        operator.id,
        operator.name,
        "Mailroom",
        PieceSource.METER,
    )
    number = kiosk_account.number
    assert postroom.kiosks.log_piece(number, queued) is True  # the queue's copy came first
    printed = MeterPrint(record, signature, "usps", "Sales", "x-1")
    _logged, created = postroom.kiosk_pieces.record(
        number, printed, operator.id, operator.name, "Mailroom"
    )
    assert created is True
    [row] = _rows(postroom)
    assert (row["request_id"], row["cost_center"], row["terminal"]) == ("x-1", "Sales", "Mailroom")
    # the same report again, and the queue's copy sent again: nothing new, no conflict
    assert postroom.kiosk_pieces.record(number, printed, operator.id, operator.name)[1] is False
    assert postroom.kiosks.log_piece(number, queued) is False
    assert len(_rows(postroom)) == 1
    report = postroom.kiosks.report(number)
    assert [(line.name, line.pieces) for line in report.by_cost_center] == [("Sales", 1)]
    flag = postroom.kiosk_pieces.flag_misprint(number, SERIAL, 1, operator.label)
    assert flag.status == "awaiting_sync"  # the meter's own log has not come yet
    assert _rows(postroom)[0]["misprint_at"] is not None
    assert postroom.kiosk_pieces.pieces(number)[0].misprint_at is not None


# ------------------------------------------------------------------ the migration


METER_PIECE = (
    "INSERT INTO kiosk_meter_pieces (customer_number, serial, piece, mills, currency, carrier, "
    "service, cost_center, operator_id, operator_name, request_id, printed_at, misprint_at, "
    "refund_id) VALUES (:number, 'PM-7', :piece, 730, 'USD', 'usps', 'first-class-letter', "
    ":center, 5, 'Alice Martin', :request, :at, :misprint, :refund)"
)
LOGGED_PIECE = (
    "INSERT INTO kiosk_pieces (customer_number, serial, piece, printed_at, mills, currency, "
    "carrier, service, cost_center, operator_id, operator_name, terminal, source) VALUES "
    "(:number, 'PM-7', 1, :at, 730, 'USD', 'usps', 'first-class-letter', 'Legal', 5, "
    "'Alice Martin', 'Mailroom', 'meter')"
)


def test_the_migration_moves_the_meter_pieces_into_the_one_log(
    fresh_url: str, downgrade: Callable[[Database, str], None], tmp_path: Path, clock: FrozenClock
) -> None:
    config = Config.load({}, data_dir=tmp_path, secret_key="x", database_url=fresh_url)
    database = Database(fresh_url)
    migrate.upgrade(database)
    with Postroom.open(config=config, clock=clock) as pr:
        number = pr.accounts.create("Acme Mailroom", "US", "USD").number
    downgrade(database, "kiosks_0002")  # as the store was before: two logs
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with database.engine.begin() as connection:
        connection.execute(sa.text(LOGGED_PIECE), {"number": number, "at": at})
        for piece, request, misprint, refund in (
            (1, "terminal-a", at, "kiosk-PM-7-1"),  # logged in both: one row with both
            (2, "terminal-b", None, None),  # only signed: a row of its own
        ):
            connection.execute(
                sa.text(METER_PIECE),
                {
                    "number": number,
                    "piece": piece,
                    "center": "Sales",
                    "request": request,
                    "at": at,
                    "misprint": misprint,
                    "refund": refund,
                },
            )
    migrate.upgrade(database)
    assert "kiosk_meter_pieces" not in sa.inspect(database.engine).get_table_names()
    database.dispose()
    with Postroom.open(config=config, clock=clock) as pr:
        rows = _rows(pr)
        assert [(r["piece"], r["terminal"], r["cost_center"], r["request_id"]) for r in rows] == [
            (1, "Mailroom", "Sales", "terminal-a"),
            (2, "", "Sales", "terminal-b"),
        ]
        assert rows[0]["refund_id"] == "kiosk-PM-7-1"
        logged = pr.kiosk_pieces.pieces(number)
        assert sorted((p.piece, p.misprint_at is not None) for p in logged) == [
            (1, True),
            (2, False),
        ]
        assert pr.kiosks.report(number, at.date()).by_cost_center[0].pieces == 2
