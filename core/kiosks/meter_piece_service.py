"""``pr.kiosk_pieces``: the terminals' piece log of the account's own postage meters.

A terminal prints on an attached meter: the device debits its own funds and signs the
indicium. The terminal then reports the piece here (``record``) with the signed record,
so the data center books it to the operator and the cost centre before the meter's next
sync brings its own log. A misprint is flagged from the terminal (``flag_misprint``): a
refund request under the 60-day rule, asked as soon as the data center counts the piece.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from postroom.core.clock import Clock
from postroom.core.errors import NotFound, PostroomError, ValidationError
from postroom.core.kiosks.meter_piece_store import MeterPieceRepository, MeterPieceStore
from postroom.core.kiosks.meter_pieces import (
    LoggedMeterPiece,
    MeterPrint,
    check_replay,
    misprint_refund_id,
)
from postroom.core.kiosks.ports import Session, Transactions
from postroom.core.meters.model import Meter

RepositoryFactory = Callable[[Session], MeterPieceRepository]
#: The refund reason of a piece flagged at a terminal.
MISPRINTED = "misprinted"
#: The refunds' answers for a piece the meter's sync has not brought yet.
NOT_YET_COUNTED = ("piece_not_logged", "piece_not_printed")


class RegisteredMeters(Protocol):
    """What the piece log asks ``pr.meters``."""

    def customer_meter(self, customer_number: str, serial: str) -> Meter: ...


class RefundRequests(Protocol):
    """``pr.refunds.request_logged``: ask back pieces by their numbers in the meter's log."""

    def request_logged(
        self,
        customer_number: str,
        refund_id: str,
        serial: str,
        pieces: Sequence[int],
        reason: str,
        *,
        note: str = "",
    ) -> object: ...


@attrs.frozen
class MisprintFlag:
    """A piece flagged as misprinted: its refund request, or why it waits."""

    serial: str
    piece: int
    refund_id: str | None
    #: ``requested``, or ``awaiting_sync`` while the data center has not counted the piece
    status: str


def _store(session: Session) -> MeterPieceRepository:
    return MeterPieceStore(session.connection)


class MeterPieceLog:
    """``pr.kiosk_pieces``."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        meters: RegisteredMeters,
        refunds: RefundRequests,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._meters = meters
        self._refunds = refunds
        self._repository = repository

    def record(
        self,
        customer_number: str,
        printed: MeterPrint,
        operator_id: int,
        operator_name: str,
        terminal: str = "",
    ) -> tuple[LoggedMeterPiece, bool]:
        """Book a piece the account's meter signed to the operator and the cost centre,
        and whether it is new. The signature must verify under the meter's registered
        key; the same report again answers the piece logged (a terminal retrying after a
        lost answer). The piece goes into the one piece log (``kiosk_pieces``), onto the
        row the terminal's queue logged for the reports if it came first."""
        return self.record_all(customer_number, [printed], operator_id, operator_name, terminal)[0]

    def record_all(
        self,
        customer_number: str,
        prints: Sequence[MeterPrint],
        operator_id: int,
        operator_name: str,
        terminal: str = "",
    ) -> builtins.list[tuple[LoggedMeterPiece, bool]]:
        """``record`` for several pieces (a batch) in one transaction: all or none."""
        keys: dict[str, str] = {}
        now = self._clock.now()
        pieces: builtins.list[LoggedMeterPiece] = []
        for printed in prints:
            record = printed.indicium
            if record.serial not in keys:
                meter = self._meters.customer_meter(customer_number, record.serial)
                if meter.public_key_pem is None:
                    raise ValidationError(
                        f"meter {meter.serial} has not been connected to the data center yet",
                        code="no_public_key",
                    )
                keys[record.serial] = meter.public_key_pem
            printed.verified(keys[record.serial])
            pieces.append(
                LoggedMeterPiece.of(
                    customer_number, record, printed, operator_id, operator_name, now, terminal
                )
            )

        def work(uow: Session) -> builtins.list[tuple[LoggedMeterPiece, bool]]:
            repository = self._repository(uow)
            answers: builtins.list[tuple[LoggedMeterPiece, bool]] = []
            for piece in pieces:
                earlier = repository.get(piece.serial, piece.piece)
                if earlier is not None:
                    answers.append((check_replay(earlier, piece), False))
                else:
                    repository.add(piece)
                    answers.append((piece, True))
            uow.commit()
            return answers

        return self._db.run(work)

    def pieces(self, customer_number: str, *, limit: int = 50) -> builtins.list[LoggedMeterPiece]:
        """The account's logged meter pieces, the latest first."""
        return self._db.run(
            lambda uow: self._repository(uow).of_customer(customer_number, limit), readonly=True
        )

    def flag_misprint(
        self, customer_number: str, serial: str, piece: int, flagged_by: str
    ) -> MisprintFlag:
        """Flag the account's printed piece as misprinted and ask its refund (one request
        per piece: flagging again asks nothing twice). A meter's piece the data center
        has not counted yet (before the meter's next sync) stays flagged, ``awaiting_sync``:
        flagging it again after the sync asks the refund. Another account's piece is
        not found."""
        meter = self._meters.customer_meter(customer_number, serial)
        refund_id = misprint_refund_id(meter.serial, piece)
        logged = self._db.run(
            lambda uow: self._repository(uow).get(meter.serial, piece), readonly=True
        )
        if logged is not None and logged.customer_number != meter.customer_account:
            raise NotFound(f"no piece {piece} of meter {serial}", code="piece_not_found")
        status = "requested"
        try:
            self._refunds.request_logged(
                meter.customer_account,
                refund_id,
                meter.serial,
                [piece],
                MISPRINTED,
                note=f"flagged as misprinted at a terminal by {flagged_by}"[:500],
            )
        except PostroomError as error:
            if error.code not in NOT_YET_COUNTED or logged is None:
                raise
            status = "awaiting_sync"
        at = self._clock.now()
        if logged is not None:
            kept = refund_id if status == "requested" else None

            def work(uow: Session) -> None:
                self._repository(uow).flag_misprint(meter.serial, piece, at, kept)
                uow.commit()

            self._db.run(work)
        return MisprintFlag(
            meter.serial, piece, refund_id if status == "requested" else None, status
        )
