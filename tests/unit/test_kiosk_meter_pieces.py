"""The terminals' piece log (``pr.kiosk_pieces``) on in-memory fakes, no I/O: a piece the
account's meter signed is booked to the operator once; a record the meter did not sign,
another account's meter and a different report of the same piece are refused; a misprint
waits for the meter's sync, then asks its refund once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import attrs
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fakes_transactions import StateDatabase

from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from postroom.core.kiosks.meter_piece_service import MeterPieceLog
from postroom.core.kiosks.meter_pieces import LoggedMeterPiece, MeterPrint, misprint_refund_id
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.model import Meter, MeterStatus
from postroom.core.money import Money

MINE = "1000000009"
OTHER = "2000000008"
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


class FakeDatabase(StateDatabase[dict[tuple[str, int], LoggedMeterPiece]]):
    """Transactions over the rows: rolled back unless the work commits."""

    def __init__(self) -> None:
        super().__init__({})

    @property
    def rows(self) -> dict[tuple[str, int], LoggedMeterPiece]:
        return self.state


class FakePieces:
    """The repository over the fake database's rows."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    @property
    def rows(self) -> dict[tuple[str, int], LoggedMeterPiece]:
        return self.db.rows

    def get(self, serial: str, piece: int) -> LoggedMeterPiece | None:
        return self.rows.get((serial, piece))

    def add(self, piece: LoggedMeterPiece) -> None:
        self.rows[(piece.serial, piece.piece)] = piece

    def flag_misprint(self, serial: str, piece: int, at: datetime, refund_id: str | None) -> None:
        row = self.rows[(serial, piece)]
        self.rows[(serial, piece)] = attrs.evolve(
            row, misprint_at=row.misprint_at or at, refund_id=refund_id
        )

    def of_customer(self, customer_number: str, limit: int) -> list[LoggedMeterPiece]:
        mine = [p for p in self.rows.values() if p.customer_number == customer_number]
        return sorted(mine, key=lambda p: p.printed_at, reverse=True)[:limit]


class FakeMeters:
    def customer_meter(self, customer_number: str, serial: str) -> Meter:
        if (customer_number, serial) != (MINE, "PR-1"):
            raise NotFound(f"no meter {serial}", code="meter_not_found")
        return Meter(
            "PR-1",
            MINE,
            "PR-VPSD1",
            "postroom-vpsd-1",
            "usps",
            MeterStatus.ACTIVE,
            datetime(2026, 1, 1, tzinfo=UTC),
            public_key_pem=PEM,
        )


@attrs.define
class FakeRefunds:
    counted: bool = False
    asked: list[str] = attrs.field(factory=list)

    def request_logged(
        self,
        customer_number: str,
        refund_id: str,
        serial: str,
        pieces: Sequence[int],
        reason: str,
        *,
        note: str = "",
    ) -> object:
        if not self.counted:
            raise NotFound("not uploaded yet", code="piece_not_logged")
        if refund_id not in self.asked:
            self.asked.append(refund_id)
        return refund_id


def signed(piece: int = 1, mills: int = 730) -> tuple[bytes, bytes]:
    record = IndiciumRecord(
        "PR-1",
        piece,
        Money(mills, "USD"),
        date(2026, 12, 2),
        "10001",
        "first-class-letter",
        mills * piece,
        10_000,
        b"\x01" * 32,
    ).to_bytes()
    return record, KEY.sign(record, ec.ECDSA(hashes.SHA256()))


@pytest.fixture
def refunds() -> FakeRefunds:
    return FakeRefunds()


@pytest.fixture
def log(refunds: FakeRefunds) -> MeterPieceLog:
    db = FakeDatabase()
    return MeterPieceLog(
        db,
        FrozenClock.at("2026-12-02T09:30:00+00:00"),
        meters=FakeMeters(),
        refunds=refunds,
        repository=lambda session: FakePieces(db),
    )


def test_a_signed_piece_is_booked_to_the_operator_once(log: MeterPieceLog) -> None:
    printed = MeterPrint(*signed(), "usps", "Legal", "terminal-abc-1")
    piece, created = log.record(MINE, printed, 7, "Alice Martin")
    assert created
    assert (piece.serial, piece.piece, piece.postage) == ("PR-1", 1, Money(730, "USD"))
    assert (piece.operator_id, piece.cost_center, piece.service) == (
        7,
        "Legal",
        "first-class-letter",
    )
    again, created = log.record(MINE, printed, 7, "Alice Martin")
    assert (again, created) == (piece, False)
    with pytest.raises(Conflict) as other:
        log.record(MINE, attrs.evolve(printed, cost_center="Sales"), 7, "Alice Martin")
    assert other.value.code == "meter_piece_conflict"
    assert len(log.pieces(MINE)) == 1


def test_what_the_meter_did_not_sign_or_another_accounts_meter_is_refused(
    log: MeterPieceLog,
) -> None:
    record, signature = signed()
    forged, _ = signed(mills=1)
    with pytest.raises(PermissionDenied):
        log.record(MINE, MeterPrint(forged, signature, "usps", None, "r-1"), 7, "Alice")
    with pytest.raises(NotFound):
        log.record(OTHER, MeterPrint(record, signature, "usps", None, "r-1"), 7, "Mallory")
    with pytest.raises(ValidationError):
        MeterPrint(record, signature, "usps", None, "not a request id!")
    assert log.pieces(MINE) == []


def test_a_misprint_waits_for_the_sync_then_asks_its_refund_once(
    log: MeterPieceLog, refunds: FakeRefunds
) -> None:
    log.record(MINE, MeterPrint(*signed(), "usps", None, "r-1"), 7, "Alice")
    waiting = log.flag_misprint(MINE, "PR-1", 1, "kiosk operator 7 (Alice)")
    assert (waiting.status, waiting.refund_id) == ("awaiting_sync", None)
    assert log.pieces(MINE)[0].misprint_at is not None
    refunds.counted = True
    asked = log.flag_misprint(MINE, "PR-1", 1, "kiosk operator 7 (Alice)")
    assert (asked.status, asked.refund_id) == ("requested", "kiosk-PR-1-1")
    log.flag_misprint(MINE, "PR-1", 1, "kiosk operator 7 (Alice)")
    assert refunds.asked == ["kiosk-PR-1-1"]
    assert log.pieces(MINE)[0].refund_id == "kiosk-PR-1-1"
    with pytest.raises(NotFound):
        log.flag_misprint(OTHER, "PR-1", 1, "kiosk operator 9 (Mallory)")


def test_a_refund_id_fits_the_refunds_rules_whatever_the_serial() -> None:
    assert misprint_refund_id("PR-1", 12) == "kiosk-PR-1-12"
    long = misprint_refund_id("X" * 60, 12)
    assert long.startswith("kiosk-")
    assert len(long) <= 40
    assert misprint_refund_id("A B", 1) != misprint_refund_id("A-B", 1)


def test_a_batch_is_booked_in_one_transaction_all_or_none(log: MeterPieceLog) -> None:
    first = MeterPrint(*signed(1), "usps", "Legal", "batch-1-0")
    second = MeterPrint(*signed(2), "usps", "Legal", "batch-1-1")
    forged = MeterPrint(signed(3)[0], signed(4)[1], "usps", "Legal", "batch-1-2")
    with pytest.raises(PermissionDenied):
        log.record_all(MINE, [first, second, forged], 7, "Alice")
    assert log.pieces(MINE) == []
    answers = log.record_all(MINE, [first, second], 7, "Alice")
    assert [(p.piece, created) for p, created in answers] == [(1, True), (2, True)]
    again = log.record_all(MINE, [second], 7, "Alice")
    assert [(p.piece, created) for p, created in again] == [(2, False)]
