"""What a mailroom terminal asks of its data center, whether it is reached over the API
with the terminal's kiosk key (``remote.RemoteDataCenter``) or is the local store on the
same machine (``local.LocalDataCenter``): the values it answers and the Protocol both
implement. The terminal's screens (``terminal.py``) know only this."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from postroom.core.errors import PostroomError
from postroom.core.kiosks.model import KioskPiece, Notice, PieceReport
from postroom.core.money import Money
from postroom.core.ports import ShipmentStatus
from postroom.core.units import Dimensions, Weight


class DataCenterUnreachable(PostroomError):
    """The data center did not answer: nothing was charged; the screen says it waits."""

    code = "data_center_unreachable"
    http_status = 503


@attrs.frozen
class OperatorChoice:
    id: int
    name: str
    #: The account's cost centres this operator may book to (as the data center
    #: answers for the signed-in operator; empty in the sign-in list).
    cost_centers: tuple[str, ...] = ()


@attrs.frozen
class TerminalInfo:
    """The terminal's account and who may print on it."""

    customer_number: str
    account_name: str
    country: str
    currency: str
    label: str
    cost_centers: tuple[str, ...]
    operators: tuple[OperatorChoice, ...]
    #: After how long without a touch the data center signs an operator out.
    idle_seconds: int


@attrs.frozen
class OfferLine:
    description: str
    amount: Money


@attrs.frozen
class OfferExtra:
    """An extra service the offer's table sells at a fixed price (Certified...)."""

    code: str
    name: str
    price: Money


@attrs.frozen
class Offer:
    """One service the terminal can print for the piece, with its itemised price."""

    carrier: str
    service: str
    name: str
    delivery: str
    total: Money
    lines: tuple[OfferLine, ...]
    #: The digest of the rate table that priced it: what a meter's print job names.
    digest: str = ""
    #: The extras its service sells, to add on the choose screen.
    extras: tuple[OfferExtra, ...] = ()


@attrs.frozen
class PieceSize:
    """What the operator says the piece is (``kiosks.model.PIECE_SHAPES``: a letter, a
    large envelope, a parcel) and, measured, its length x width x height."""

    shape: str = "letter"
    dimensions: Dimensions | None = None


#: A letter: weighed, never measured (a stack of letters stays one touch each).
LETTER = PieceSize()


@attrs.frozen
class RefusedOffer:
    """A service of the piece's shape that cannot carry it, and why (``over_limit``:
    the ``limit`` broken, on which ``dimension``, "" for the weight; ``bound`` max or
    min)."""

    carrier: str
    service: str
    code: str
    message: str
    limit: str = ""
    dimension: str = ""
    bound: str = ""
    #: The service's name, as its table gives it.
    name: str = ""


@attrs.frozen
class OfferList:
    """The offers for one piece, cheapest first, and the services refused with why.
    As a sequence, it is the offers."""

    options: tuple[Offer, ...]
    refused: tuple[RefusedOffer, ...] = ()

    def __iter__(self) -> Iterator[Offer]:
        return iter(self.options)

    def __len__(self) -> int:
        return len(self.options)

    def __getitem__(self, index: int) -> Offer:
        return self.options[index]


@attrs.frozen
class PrintedPiece:
    serial: str
    piece: int
    postage: Money
    carrier: str
    service: str
    cost_center: str | None
    #: What the indicium's Data Matrix carries (the signed record): a label prints it.
    symbol: bytes = attrs.field(repr=False)


@attrs.frozen
class MeterReport:
    """A piece the attached meter printed, as the terminal reports it."""

    record: bytes = attrs.field(repr=False)
    signature: bytes = attrs.field(repr=False)
    carrier: str
    cost_center: str | None
    request_id: str


@attrs.frozen
class MisprintAnswer:
    """A misprint flagged: its refund request's id, or ``awaiting_sync`` while the data
    center has not counted the meter's piece yet."""

    status: str
    refund_id: str | None = None


@attrs.frozen
class TrackedPiece:
    """A tracking number's status as the terminal shows it (explained in plain words
    on the screen, in the operator's language)."""

    number: str
    carrier: str
    status: ShipmentStatus
    delivered_at: datetime | None = None


class DataCenter(Protocol):
    def terminal(self) -> TerminalInfo: ...

    def offers(self, weight: Weight, extras: Sequence[str], size: PieceSize = LETTER) -> OfferList:
        """The services of the piece's shape the account can print for it, cheapest first,
        and those its weight or size is over a limit of, with the reason."""
        ...

    def sign_in(self, operator_id: int, pin: str) -> str:
        """The operator's session token; Unauthenticated for a wrong PIN, Locked when
        too many were wrong."""
        ...

    def operator(self, token: str) -> OperatorChoice:
        """The operator signed in with ``token``, marked active; Unauthenticated
        ``kiosk_signed_out`` once idle too long or signed out."""
        ...

    def sign_out(self, token: str) -> None: ...

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
        """Print one piece on the account's virtual meter, booked to the operator; the
        same key again answers the same piece and charges nothing."""
        ...

    def indicium_png(self, serial: str, piece: int) -> bytes: ...

    def record_meter_pieces(self, token: str, reports: Sequence[MeterReport]) -> None:
        """Book pieces the attached meter signed to the operator and their cost centre
        (the same report again changes nothing)."""
        ...

    def flag_misprint(self, token: str, serial: str, piece: int) -> MisprintAnswer:
        """Flag a printed piece as misprinted and ask its refund."""

    def sign_in_badge(self, badge: str) -> str:
        """The session token of the operator whose badge the reader typed;
        Unauthenticated ``unknown_badge`` or ``badge_other_account``, Locked after too
        many failures."""
        ...

    def log_piece(self, piece: KioskPiece) -> bool:
        """Log a piece the attached meter printed (the offline queue sends it); whether
        it was new: the same piece again changes nothing."""
        ...

    def report(self) -> PieceReport:
        """Today's pieces of this terminal, by cost centre and by operator."""
        ...

    def track(self, number: str) -> TrackedPiece: ...

    def open_case(self, operator: str, subject: str, description: str, idempotency_key: str) -> str:
        """Open a support case for the account, from the operator named ``operator``;
        its number. The same key again answers the same case."""
        ...

    def notices(self) -> list[Notice]:
        """What the terminal says until it is fixed: low funds, an inspection due."""
        ...
