"""Batch mode: a stack of letters, one service and one cost centre, weighed or keyed in
piece by piece with one running total, printed all at once, with one receipt.

The batch lives in the terminal's memory (the terminal is one process on one machine),
named by an id in the operator's browser session: a new sign-in starts afresh. Each piece
is priced when it is added (the price shown is the price printed) and printed under its
own idempotency key (``<batch>-<index>``), so "Print all" touched twice, or again after a
failure half-way, prints each piece once: the meter answers a piece it printed from its
stored reply, the virtual meter from its idempotency key.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable

import attrs
from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from postroom.core.errors import DeviceError, PostroomError
from postroom.core.money import Money
from postroom.core.units import Weight
from postroom.frontends.kiosk import terminal
from postroom.frontends.kiosk.backend import LETTER, DataCenterUnreachable, Offer, PieceSize
from postroom.frontends.kiosk.messages import print_error
from postroom.frontends.kiosk.meter_messages import meter_error

bp = Blueprint("batch", __name__, template_folder="templates")

SESSION_BATCH = "terminal_batch"
#: The most pieces one batch holds (a tray of letters), and batches kept in memory.
MAX_PIECES = 200
KEPT_BATCHES = 50


@attrs.define
class BatchPiece:
    weight: Weight
    offer: Offer
    #: (serial, piece number) once printed
    printed: tuple[str, int] | None = None


@attrs.define
class Batch:
    id: str
    carrier: str
    service: str
    name: str
    cost_center: str | None
    operator_id: int
    extras: tuple[str, ...] = ()
    pieces: list[BatchPiece] = attrs.field(factory=list)
    #: What every piece is: letters (the stack's usual case: one touch a piece), or large
    #: envelopes or parcels of the first piece's size.
    size: PieceSize = LETTER

    @property
    def total(self) -> Money:
        return _total(p.offer.total for p in self.pieces)

    @property
    def currency(self) -> str:
        return self.pieces[0].offer.total.currency if self.pieces else "USD"

    @property
    def left(self) -> list[tuple[int, BatchPiece]]:
        return [(i, p) for i, p in enumerate(self.pieces) if p.printed is None]


def _total(amounts: Iterable[Money]) -> Money:
    found = list(amounts)
    return sum(found[1:], found[0]) if found else Money(0, "USD")


class Batches:
    """The terminal's open batches, the latest kept."""

    def __init__(self) -> None:
        self._batches: OrderedDict[str, Batch] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, batch: Batch) -> None:
        with self._lock:
            self._batches[batch.id] = batch
            while len(self._batches) > KEPT_BATCHES:
                self._batches.popitem(last=False)

    def get(self, batch_id: object) -> Batch | None:
        return self._batches.get(batch_id) if isinstance(batch_id, str) else None


def _batches() -> Batches:
    found: Batches = terminal.bp_state()["batches"]
    return found


def _mine() -> Batch:
    """This session's batch, for the operator signed in; else 404."""
    batch = _batches().get(session.get(SESSION_BATCH))
    operator = terminal._operator()
    if batch is None or operator is None or batch.operator_id != operator.id:
        abort(404)
    return batch


def _priced(batch: Batch, weight: Weight) -> Offer | None:
    return terminal._chosen_offer(weight, batch.carrier, batch.service, batch.extras, batch.size)


@bp.post("/batch")
def start() -> ResponseReturnValue:
    """Start a batch with the offer chosen for the first piece, and add that piece."""
    operator = terminal._operator()
    info = terminal._info()
    try:
        weight = Weight.of(
            request.form.get("weight_value", ""), request.form.get("weight_unit", "")
        )
    except (PostroomError, ValueError, TypeError, ArithmeticError):
        return terminal._weigh_page(error=_("Weigh the piece again."), status=422)
    size = terminal._piece_size()[0]
    if size is None:
        return terminal._weigh_page(error=_("Weigh the piece again."), status=422)
    center = request.form.get("cost_center") or None
    if operator is None or (center is not None and center not in terminal._cost_centers(info)):
        return terminal._offers_page(weight, _("Choose one of the cost centres shown."), 422)
    extras = terminal._extras_chosen()
    offer = terminal._chosen_offer(
        weight,
        request.form.get("carrier", "")[:40],
        request.form.get("service", "")[:80],
        extras,
        size,
    )
    if offer is None:
        return terminal._offers_page(
            weight, _("This service cannot print this piece: choose one of those shown."), 422
        )
    batch = Batch(
        "batch-" + secrets.token_hex(8),
        offer.carrier,
        offer.service,
        offer.name,
        center,
        operator.id,
        extras,
        size=size,
    )
    batch.pieces.append(BatchPiece(weight, offer))
    _batches().open(batch)
    session[SESSION_BATCH] = batch.id
    return redirect(url_for("batch.show"), 303)


def _page(batch: Batch, error: str | None = None, status: int = 200) -> tuple[str, int]:
    info = terminal._info()
    units = terminal._units(info)
    scale = terminal._scale()
    reading = scale.read() if scale is not None and batch.left else None
    return render_template(
        "terminal/batch.html",
        batch=batch,
        units=units,
        unit=units[0],
        reading=reading,
        shown=terminal._shown_weight(reading.weight, units[0])
        if reading is not None and reading.weight is not None
        else "",
        money=terminal._money,
        shown_weight=lambda weight: terminal._shown_weight(weight, units[0]),
        on_meter=terminal._meter_printing() is not None,
        full=len(batch.pieces) >= MAX_PIECES,
        error=error,
        shown_size=terminal._shown_size(batch.size),
    ), status


@bp.get("/batch")
def show() -> tuple[str, int]:
    return _page(_mine())


@bp.post("/batch/pieces")
def add() -> ResponseReturnValue:
    """One more piece: the scale's stable reading or the keyed weight, priced now."""
    batch = _mine()
    if len(batch.pieces) >= MAX_PIECES:
        return _page(batch, _("This batch is full: print it, then start another."), 422)
    weight, error = terminal._piece_weight()
    if weight is None:
        return _page(batch, error, 422)
    offer = _priced(batch, weight)
    if offer is None:
        return _page(
            batch,
            _("%(service)s cannot carry this piece: print it apart.", service=batch.name),
            422,
        )
    batch.pieces.append(BatchPiece(weight, offer))
    return redirect(url_for("batch.show"), 303)


@bp.post("/batch/pieces/last")
def remove_last() -> ResponseReturnValue:
    batch = _mine()
    if batch.pieces and batch.pieces[-1].printed is None:
        batch.pieces.pop()
    return redirect(url_for("batch.show"), 303)


@bp.post("/batch/print")
def print_all() -> ResponseReturnValue:
    """Print every piece not printed yet, on the attached meter when there is one, else
    on the account's virtual meter; stop at the first failure (nothing charged for it)
    and say why: "Print all" again prints the rest, each piece once."""
    batch = _mine()
    token = session.get(terminal.SESSION_OPERATOR)
    if not isinstance(token, str):
        return redirect(url_for("terminal.sign_in"), 303)
    origin_zip = terminal.bp_state()["origin_zip"]
    printing = terminal._meter_printing()
    if printing is not None:  # on the meter, one piece after the other, booked at once
        left = batch.left
        operator = terminal._operator()
        if operator is None:
            return redirect(url_for("terminal.sign_in"), 303)
        printed, _booked, failure = printing.print_all(
            token,
            operator,
            [(piece.offer, f"{batch.id}-{index}") for index, piece in left],
            origin_zip,
            batch.cost_center,
        )
        for (_index, piece), done in zip(left, printed, strict=False):
            piece.printed = (done.serial, done.number)
        if failure is not None:
            return _failed(batch, failure)
        return redirect(url_for("batch.receipt"), 303)
    for index, piece in batch.left:
        try:
            virtual = terminal._data_center().print_postage(
                token,
                batch.carrier,
                batch.service,
                piece.weight,
                batch.extras,
                batch.cost_center,
                f"{batch.id}-{index}",
                origin_zip,
            )
        except PostroomError as error:
            return _failed(batch, error)
        piece.printed = (virtual.serial, virtual.piece)
    return redirect(url_for("batch.receipt"), 303)


def _failed(batch: Batch, error: PostroomError) -> tuple[str, int]:
    """The batch, with why "Print all" stopped (nothing was charged for that piece)."""
    if isinstance(error, DataCenterUnreachable):
        return _page(
            batch,
            _("The data center cannot be reached: touch Print all again when it is back."),
            503,
        )
    if isinstance(error, DeviceError):
        return _page(batch, meter_error(error), 503)
    return _page(batch, meter_error(error) or print_error(error), error.http_status)


@bp.get("/batch/receipt")
def receipt() -> tuple[str, int]:
    """One receipt for the batch: each piece, the total, who and which cost centre."""
    batch = _mine()
    printed = [(i, p) for i, p in enumerate(batch.pieces) if p.printed is not None]
    total = _total(p.offer.total for _i, p in printed) if printed else Money(0, batch.currency)
    return render_template(
        "terminal/receipt.html",
        batch=batch,
        printed=printed,
        total=terminal._money(total),
        money=terminal._money,
        shown_weight=lambda weight: terminal._shown_weight(
            weight, terminal._units(terminal._info())[0]
        ),
        on_meter=terminal._meter_printing() is not None,
        day=terminal.today_on_terminal(),
    ), 200


@bp.get("/batch/pieces/<int:index>/indicium.png")
def indicium(index: int) -> Response:
    batch = _mine()
    if not 0 <= index < len(batch.pieces) or batch.pieces[index].printed is None:
        abort(404)
    serial, number = batch.pieces[index].printed or ("", 0)
    return Response(terminal._render_indicium(serial, number), mimetype="image/png")
