"""What a terminal keeps while its data center cannot be reached, and sends when it can.

``OfflineQueue`` is a small SQLite file in the terminal's data directory: the piece log
of the attached meter (which prints from its own funds, charged on the device) and the
support cases opened from the terminal. Each entry carries an idempotency key (a
piece's is its meter serial and number): pushing it twice keeps one, and the data
center answers a resent entry with the first result (no double booking, no second
case). ``flush`` sends the entries oldest first and stops at the first that does not
get through; ``QueueFlusher`` calls it in the background.

``WatchedDataCenter`` wraps the terminal's data center: it notes when the data center
stops answering (the screens then say that the virtual meter and the price refresh wait
for the connection), keeps the terminal's details and the signed-in operators seen last
so that the screens still open, and wakes the flusher once the data center answers again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs

from postroom.core.errors import PostroomError, Unauthenticated, ValidationError
from postroom.core.kiosks.model import KioskPiece, Notice, PieceReport
from postroom.core.units import Weight
from postroom.frontends.kiosk.backend import (
    LETTER,
    DataCenter,
    DataCenterUnreachable,
    MeterReport,
    MisprintAnswer,
    OfferList,
    OperatorChoice,
    PieceSize,
    PrintedPiece,
    TerminalInfo,
    TrackedPiece,
)
from postroom.frontends.serialise.kiosks import kiosk_piece_from_json, kiosk_piece_json

T = TypeVar("T")

QUEUE_FILE = "kiosk-queue.sqlite3"
PIECE = "piece"
CASE = "case"
KINDS = (PIECE, CASE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queued (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- the data center refused it (its error code): kept for a person, never resent
    refused TEXT
)
"""


@attrs.frozen
class Queued:
    id: int
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    queued_at: datetime
    attempts: int
    refused: str | None


@attrs.frozen
class Flushed:
    """What one flush did: sent, refused by the data center, and still waiting."""

    sent: int
    refused: int
    waiting: int
    #: The data center did not answer (the rest wait for the next flush).
    unreachable: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


class OfflineQueue:
    """Entries for the data center, kept in the SQLite file ``path`` until it has them."""

    def __init__(self, path: Path, *, now: Callable[[], datetime] = _now) -> None:
        self._path = path
        self._now = now
        self._lock = threading.Lock()  # one writer at a time in this process
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self._path, timeout=5)) as db, db:
            yield db

    def push(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> bool:
        """Keep ``payload`` until the data center has it; False when an entry with this
        key is kept already (the first one stands)."""
        if kind not in KINDS:
            raise ValidationError(f"the queue keeps {', '.join(KINDS)}", code="invalid_kind")
        if not idempotency_key or len(idempotency_key) > 64:
            raise ValidationError("an entry needs its idempotency key", code="invalid_key")
        with self._lock, self._connection() as db:
            done = db.execute(
                "INSERT OR IGNORE INTO queued (kind, idempotency_key, payload, queued_at) "
                "VALUES (?, ?, ?, ?)",
                (kind, idempotency_key, json.dumps(payload), self._now().isoformat()),
            )
            return done.rowcount == 1

    def push_piece(self, piece: KioskPiece) -> bool:
        """Keep a piece the attached meter printed for the data center's piece log."""
        return self.push(PIECE, kiosk_piece_json(piece), piece_key(piece.serial, piece.piece))

    def push_case(self, operator: str, subject: str, description: str, key: str) -> bool:
        body = {"operator_name": operator, "subject": subject, "description": description}
        return self.push(CASE, body, key)

    def entries(self, *, refused: bool = False) -> list[Queued]:
        """The entries waiting (or refused by the data center), oldest first."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT id, kind, idempotency_key, payload, queued_at, attempts, refused "
                "FROM queued WHERE (refused IS NOT NULL) = ? ORDER BY id",
                (refused,),
            ).fetchall()
        return [
            Queued(r[0], r[1], r[2], json.loads(r[3]), datetime.fromisoformat(r[4]), r[5], r[6])
            for r in rows
        ]

    def waiting(self) -> int:
        with self._connection() as db:
            row = db.execute("SELECT count(*) FROM queued WHERE refused IS NULL").fetchone()
        return int(row[0])

    def flush(self, data_center: DataCenter) -> Flushed:
        """Send the waiting entries, oldest first, until one does not get through (the
        rest keep their order for the next flush). An entry the data center refuses
        (its error code) is set aside, not resent forever."""
        sent = refused = 0
        unreachable = False
        for entry in self.entries():
            try:
                _send(data_center, entry)
            except DataCenterUnreachable:
                self._tried(entry.id)
                unreachable = True
                break
            except PostroomError as error:
                self._finish(entry.id, error.code)
                refused += 1
            else:
                self._finish(entry.id, None)
                sent += 1
        return Flushed(sent, refused, self.waiting(), unreachable)

    def _tried(self, entry_id: int) -> None:
        with self._lock, self._connection() as db:
            db.execute("UPDATE queued SET attempts = attempts + 1 WHERE id = ?", (entry_id,))

    def _finish(self, entry_id: int, refused: str | None) -> None:
        with self._lock, self._connection() as db:
            if refused is None:
                db.execute("DELETE FROM queued WHERE id = ?", (entry_id,))
            else:
                db.execute("UPDATE queued SET refused = ? WHERE id = ?", (refused, entry_id))


def piece_key(serial: str, piece: int) -> str:
    return f"piece:{serial}:{piece}"


def _send(data_center: DataCenter, entry: Queued) -> None:
    if entry.kind == PIECE:
        # the data center names the terminal by its key; the local store by its label
        data_center.log_piece(kiosk_piece_from_json(entry.payload, ""))
    else:
        body = entry.payload
        data_center.open_case(
            body["operator_name"], body["subject"], body["description"], entry.idempotency_key
        )


class QueueFlusher:
    """Flushes the queue every ``interval`` seconds while entries wait, and at once
    when woken (the data center answered again)."""

    def __init__(self, data_center: WatchedDataCenter, interval: float = 30) -> None:
        self._data_center = data_center
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kiosk-queue", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            queue = self._data_center.queue
            if queue is not None and queue.waiting():
                self._data_center.flush()


@attrs.define
class _SeenOperator:
    operator: OperatorChoice
    last_seen: datetime


class WatchedDataCenter:
    """A ``DataCenter`` that notes whether its data center answers (``offline``), keeps
    the terminal's details and signed-in operators for when it does not, and calls
    ``on_back`` when it answers again."""

    def __init__(
        self,
        inner: DataCenter,
        queue: OfflineQueue | None = None,
        *,
        now: Callable[[], datetime] = _now,
    ) -> None:
        self._inner = inner
        self.queue = queue
        self._now = now
        self.offline = False
        self.on_back: Callable[[], None] = lambda: None
        self._info: TerminalInfo | None = None
        self._seen: dict[str, _SeenOperator] = {}

    def _watch(self, call: Callable[[], T]) -> T:
        try:
            result = call()
        except DataCenterUnreachable:
            self.offline = True
            raise
        if self.offline:
            self.offline = False
            self.on_back()
        return result

    # ------------------------------------------------ answered from memory offline

    def terminal(self) -> TerminalInfo:
        try:
            self._info = self._watch(self._inner.terminal)
        except DataCenterUnreachable:
            if self._info is None:
                raise
        return self._info

    def operator(self, token: str) -> OperatorChoice:
        """The signed-in operator; offline, the one the data center answered last for
        ``token``, until idle longer than the terminal's idle time (the data center
        ends that sign-in too)."""
        try:
            found = self._watch(lambda: self._inner.operator(token))
        except DataCenterUnreachable:
            seen = self._seen.get(token)
            idle = timedelta(seconds=self._info.idle_seconds if self._info else 60)
            if seen is None or self._now() - seen.last_seen > idle:
                self._seen.pop(token, None)
                raise Unauthenticated("sign in to print", code="kiosk_signed_out") from None
            seen.last_seen = self._now()
            return seen.operator
        except Unauthenticated:
            self._seen.pop(token, None)
            raise
        self._seen[token] = _SeenOperator(found, self._now())
        return found

    def sign_out(self, token: str) -> None:
        self._seen.pop(token, None)
        self._watch(lambda: self._inner.sign_out(token))

    # ------------------------------------------------------- kept for later offline

    def log_piece(self, piece: KioskPiece) -> bool:
        """Send a piece of the attached meter now, or keep it in the queue."""
        if self.queue is None:
            return self._watch(lambda: self._inner.log_piece(piece))
        created = self.queue.push_piece(piece)
        if not self.offline:
            self.flush()
        return created

    def flush(self) -> Flushed | None:
        """Send what the queue keeps; the data center's silence marks it offline."""
        if self.queue is None:
            return None
        done = self.queue.flush(self._inner)
        if done.unreachable:
            self.offline = True
        elif done.sent or done.refused:  # it answered
            self.offline = False
        return done

    def open_case(self, operator: str, subject: str, description: str, idempotency_key: str) -> str:
        """The case's number; offline (with a queue), the case is kept and sent when the
        data center answers: Queued, whose ``code`` the help screen explains."""
        try:
            return self._watch(
                lambda: self._inner.open_case(operator, subject, description, idempotency_key)
            )
        except DataCenterUnreachable:
            if self.queue is None:
                raise
            self.queue.push_case(operator, subject, description, idempotency_key)
            raise CaseQueued("kept on the terminal until the data center answers") from None

    # ---------------------------------------------------------------- passed on

    def record_meter_pieces(self, token: str, reports: Sequence[MeterReport]) -> None:
        self._watch(lambda: self._inner.record_meter_pieces(token, reports))

    def flag_misprint(self, token: str, serial: str, piece: int) -> MisprintAnswer:
        return self._watch(lambda: self._inner.flag_misprint(token, serial, piece))

    def offers(self, weight: Weight, extras: Sequence[str], size: PieceSize = LETTER) -> OfferList:
        return self._watch(lambda: self._inner.offers(weight, extras, size))

    def sign_in(self, operator_id: int, pin: str) -> str:
        return self._watch(lambda: self._inner.sign_in(operator_id, pin))

    def sign_in_badge(self, badge: str) -> str:
        return self._watch(lambda: self._inner.sign_in_badge(badge))

    def print_postage(
        self,
        token: str,
        carrier: str,
        service: str,
        weight: Weight,
        extras: Sequence[str],
        cost_center: str | None,
        idempotency_key: str,
        origin_zip: str,
    ) -> PrintedPiece:
        return self._watch(
            lambda: self._inner.print_postage(
                token, carrier, service, weight, extras, cost_center, idempotency_key, origin_zip
            )
        )

    def indicium_png(self, serial: str, piece: int) -> bytes:
        return self._watch(lambda: self._inner.indicium_png(serial, piece))

    def report(self) -> PieceReport:
        return self._watch(self._inner.report)

    def track(self, number: str) -> TrackedPiece:
        return self._watch(lambda: self._inner.track(number))

    def notices(self) -> list[Notice]:
        return self._watch(self._inner.notices)


class CaseQueued(PostroomError):
    """A support case kept on the terminal: it is sent when the data center answers."""

    code = "case_queued"
    http_status = 202
