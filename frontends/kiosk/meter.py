"""The postage meter attached to the terminal (``postroom kiosk serve --meter URL``).

The meter is the printer and the bank: it debits its own descending register and signs
the indicium (the HAL's meter driver, ``hal.meter.driver.MeterClient``). The terminal
then reports the piece to its data center, which books it to the operator and the cost
centre (``DataCenter.record_meter_pieces``; ``pr.kiosk_pieces`` on the local store).

Every print carries a request id made from the print form's idempotency key, so a
second touch, a reprint or a retry after a lost reply is answered by the meter from the
reply it stored (the same signed piece) and never debits twice. When the meter resets
mid-print or answers garbage, the terminal reconnects and reads the meter's signed
registers: a piece count that moved means the meter printed (and charged) the piece, and
the same request id fetches its indicium; one that did not means nothing was charged.
Either way there is no charge without an indicium, and no indicium without its charge.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

import attrs

from postroom.core.clock import Clock, SystemClock, today
from postroom.core.errors import DeviceError, PostroomError, ValidationError
from postroom.core.kiosks.model import KioskPiece, PieceSource
from postroom.core.meters.device import PrintedPiece, PrintJob
from postroom.core.meters.indicium_image import HumanBlock, pack_symbol, render_png
from postroom.core.meters.printing import carrier_mark, check_request_id, installed_rate_digests
from postroom.core.meters.sync import DataCenter as SyncDataCenter
from postroom.core.money import Money
from postroom.frontends.kiosk.backend import (
    DataCenter,
    DataCenterUnreachable,
    MeterReport,
    Offer,
    OperatorChoice,
)
from postroom.hal.meter.connect import ConnectOutcome, run_sync
from postroom.hal.meter.driver import MeterClient

#: Pieces whose indicium the terminal keeps to show and reprint (the latest ones).
KEPT_PIECES = 500
#: Reports the data center has not taken yet (it could not be reached), the oldest first.
MAX_UNREPORTED = 10_000


class MeterUnavailable(DeviceError):
    """The meter does not answer (unplugged, off, resetting): nothing was charged, or the
    piece it printed is fetched by the same request id once it answers again."""

    code = "meter_unavailable"
    http_status = 503


class MeterNotPrinted(DeviceError):
    """The print failed and the meter's piece count did not move: nothing was charged."""

    code = "meter_not_printed"
    http_status = 503


@attrs.frozen
class MeterPiece:
    """A piece the attached meter printed, as the terminal keeps it."""

    printed: PrintedPiece = attrs.field(repr=False)
    job: PrintJob
    request_id: str
    carrier: str

    @property
    def serial(self) -> str:
        return self.printed.record.serial

    @property
    def number(self) -> int:
        return self.printed.record.piece

    @property
    def postage(self) -> Money:
        return self.printed.record.postage

    @property
    def symbol(self) -> bytes:
        return pack_symbol(self.printed.record_bytes, self.printed.signature)

    def png(self) -> bytes:
        block = HumanBlock.of(self.printed.record, carrier_mark(self.carrier))
        return render_png(self.symbol, block)


Opener = Callable[[str], MeterClient]


def _open(url: str) -> MeterClient:
    return MeterClient.open(url, baudrate=115200, timeout=0.5, retries=2)


class TerminalMeter:
    """The meter at ``url`` (a serial device, a pty, ``socket://host:port``). The line
    stays open between prints and is opened again after a failure; the device's public
    key is pinned at the first contact, so a device swapped behind the terminal's back
    is refused (``signature_invalid``)."""

    def __init__(self, url: str, *, opener: Opener = _open, clock: Clock | None = None) -> None:
        self.url = url
        self._opener = opener
        self._clock = clock or SystemClock()
        self._client: MeterClient | None = None
        self._public_key_pem: str | None = None
        self._digests: frozenset[str] = frozenset()
        self._pieces = 0  # the device's piece count, as last seen
        self._lock = threading.Lock()  # one conversation on the line at a time
        self._kept: OrderedDict[tuple[str, int], MeterPiece] = OrderedDict()

    # -- the line ---------------------------------------------------------------------

    def _connected(self) -> MeterClient:
        if self._client is not None:
            return self._client
        try:
            client = self._opener(self.url)
        except (OSError, DeviceError) as error:
            raise MeterUnavailable(f"the meter at {self.url} cannot be opened ({error})") from None
        try:
            if self._public_key_pem is None:
                self._public_key_pem = client.public_key_pem()
            client = MeterClient(client.client, public_key_pem=self._public_key_pem)
            self._pieces = client.registers().pieces
            self._digests = frozenset(installed_rate_digests(client.diagnostics()))
        except DeviceError:
            client.close()
            raise
        self._client = client
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- what the screens ask -----------------------------------------------------------

    def can_print(self, offer: Offer) -> bool:
        """Whether the meter holds the rate table that priced ``offer`` (a sync brings
        new tables); False when the meter does not answer."""
        with self._lock:
            try:
                self._connected()
            except DeviceError:
                self._drop()
                return False
            return offer.digest in self._digests

    def now(self) -> datetime:
        return self._clock.now()

    def sync(self, data_center: Callable[[str], SyncDataCenter]) -> ConnectOutcome:
        """Sync the meter with the data center now (``postroom meter connect``'s sync:
        refills, rates, inspection), ``data_center(serial)`` answering its side; the
        inspection notice's *Sync now*. The line is read afresh after it (a sync may
        install rate tables or lock the meter); a sync cut short is ``sync_incomplete``."""
        with self._lock:
            try:
                client = self._connected()
                serial = str(client.identify()["serial"])
                outcome = run_sync(client, data_center(serial))
            except DeviceError:
                self._drop()
                raise
            self._drop()
        if not outcome.complete:
            raise DeviceError(
                f"the sync of {outcome.summary.serial} was cut short "
                f"({'; '.join(outcome.errors)}): sync again",
                code="sync_incomplete",
            )
        return outcome

    def kept(self, serial: str, piece: int) -> MeterPiece | None:
        return self._kept.get((serial, piece))

    def print(
        self,
        offer: Offer,
        origin_zip: str,
        cost_center: str | None,
        idempotency_key: str,
    ) -> MeterPiece:
        """Have the meter debit and sign ``offer``'s postage; the same key again answers
        the same piece without a second debit."""
        job = PrintJob(
            offer.total, offer.digest, offer.service, today(self._clock), origin_zip, cost_center
        )
        return self.print_job(job, check_request_id(idempotency_key), offer.carrier)

    def reprint(self, piece: MeterPiece) -> MeterPiece:
        """The same piece again: the meter answers the reply it stored, no debit."""
        return self.print_job(piece.job, piece.request_id, piece.carrier)

    def print_job(self, job: PrintJob, request_id: str, carrier: str) -> MeterPiece:
        with self._lock:
            try:
                printed = self._connected().print_postage(job, request_id=request_id)
            except DeviceError as error:
                self._drop()
                printed = self._reconcile(job, request_id, error)
            except ValidationError as error:
                if error.code == "rate_table_unknown":
                    self._drop()  # read the installed tables again at the next print
                raise
            self._pieces = max(self._pieces, printed.record.piece)
            piece = MeterPiece(printed, job, request_id, carrier)
            self._kept[(piece.serial, piece.number)] = piece
            while len(self._kept) > KEPT_PIECES:
                self._kept.popitem(last=False)
            return piece

    def _reconcile(self, job: PrintJob, request_id: str, cause: DeviceError) -> PrintedPiece:
        """After a failed print: reconnect and read the signed piece count. Moved: the
        meter printed the piece, and the same request id answers its stored reply (no
        second debit). Not moved: nothing was charged."""
        known = self._pieces
        try:
            client = self._connected()  # reads the signed registers again
        except DeviceError:
            self._drop()
            raise MeterUnavailable(
                f"the meter stopped answering ({cause.code}); the piece may be printed: "
                "touch Print again once it answers, it is never charged twice",
                cause=cause.code,
            ) from None
        if self._pieces == known:
            raise MeterNotPrinted(
                f"the meter did not print the piece ({cause.code}): nothing was charged",
                cause=cause.code,
            )
        try:
            return client.print_postage(job, request_id=request_id)
        except DeviceError as error:
            self._drop()
            raise MeterUnavailable(
                f"the meter printed a piece but its answer cannot be read ({error.code}): "
                "touch Print again, it is never charged twice",
                cause=error.code,
            ) from None


class MeterPrinting:
    """The terminal's print on the attached meter: print, then report the piece to the
    data center, booked to the operator. A report the data center could not take (no
    connection) waits in memory and goes with the next print: the meter's own log
    brings the piece to the data center at its next sync in any case."""

    def __init__(self, meter: TerminalMeter, data_center: DataCenter) -> None:
        self.meter = meter
        self._data_center = data_center
        self._unreported: list[MeterPiece] = []
        self._lock = threading.Lock()

    @property
    def unreported(self) -> int:
        return len(self._unreported)

    def print(
        self,
        token: str,
        operator: OperatorChoice,
        offer: Offer,
        origin_zip: str,
        cost_center: str | None,
        idempotency_key: str,
    ) -> tuple[MeterPiece, bool]:
        """The printed piece, and whether the data center has it booked already."""
        piece = self.meter.print(offer, origin_zip, cost_center, idempotency_key)
        return piece, self._report(token, operator, [piece])

    def print_all(
        self,
        token: str,
        operator: OperatorChoice,
        jobs: Sequence[tuple[Offer, str]],
        origin_zip: str,
        cost_center: str | None,
    ) -> tuple[list[MeterPiece], bool, PostroomError | None]:
        """Print each ``(offer, idempotency key)`` on the meter, then book them all at
        once: the pieces printed, whether they are booked, and the failure that stopped
        the printing (the pieces printed before it are booked all the same)."""
        printed: list[MeterPiece] = []
        failure: PostroomError | None = None
        for offer, key in jobs:
            try:
                printed.append(self.meter.print(offer, origin_zip, cost_center, key))
            except PostroomError as error:
                failure = error
                break
        booked = self._report(token, operator, printed) if printed else True
        return printed, booked, failure

    def _report(self, token: str, operator: OperatorChoice, pieces: list[MeterPiece]) -> bool:
        """Book the pieces waiting and ``pieces``; whether ``pieces`` are booked. A signed
        report booked is the piece's row of the one piece log; a piece whose report the
        data center could not take goes to the log unsigned (``log_piece``: the offline
        queue keeps it while the data center does not answer), so the reports count it."""
        with self._lock:
            waiting = [*self._unreported, *pieces]
            self._unreported = []
            try:
                self._data_center.record_meter_pieces(token, [_report(p) for p in waiting])
            except DataCenterUnreachable:
                self._unreported = waiting[-MAX_UNREPORTED:]
                booked = False
            except PostroomError:
                booked = self._one_by_one(token, waiting, pieces)
            else:
                return True
        for piece in pieces:
            self._log(operator, piece)
        return booked

    def _one_by_one(self, token: str, waiting: list[MeterPiece], pieces: list[MeterPiece]) -> bool:
        """One report refused (a token expired, a meter not registered): book the others
        one by one; the meter's own log still brings a refused piece at its sync."""
        booked = True
        for index, each in enumerate(waiting):
            try:
                self._data_center.record_meter_pieces(token, [_report(each)])
            except DataCenterUnreachable:
                self._unreported = waiting[index:][-MAX_UNREPORTED:]
                return False
            except PostroomError:
                booked = booked and all(each is not p for p in pieces)
        return booked

    def _log(self, operator: OperatorChoice, piece: MeterPiece) -> None:
        logged = KioskPiece(
            piece.serial,
            piece.number,
            self.meter.now(),
            piece.postage,
            piece.carrier,
            piece.job.service,
            piece.job.cost_center,
            operator.id,
            operator.name,
            "terminal",  # the data center names it: by the kiosk key, or the local label
            PieceSource.METER,
        )
        try:
            self._data_center.log_piece(logged)
        except PostroomError:  # no queue and no connection: the meter's sync brings it
            return


def _report(piece: MeterPiece) -> MeterReport:
    return MeterReport(
        piece.printed.record_bytes,
        piece.printed.signature,
        piece.carrier,
        piece.job.cost_center,
        piece.request_id,
    )
