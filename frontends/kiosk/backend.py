"""What a mailroom terminal asks of its data center, whether it is reached over the API
with the terminal's kiosk key (``remote.RemoteDataCenter``) or is the local store on the
same machine (``local.LocalDataCenter``): the values it answers and the Protocol both
implement. The terminal's screens (``terminal.py``) know only this."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from postroom.core.errors import PostroomError
from postroom.core.money import Money
from postroom.core.units import Weight


class DataCenterUnreachable(PostroomError):
    """The data center did not answer: nothing was charged; the screen says it waits."""

    code = "data_center_unreachable"
    http_status = 503


@attrs.frozen
class OperatorChoice:
    id: int
    name: str


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


class DataCenter(Protocol):
    def terminal(self) -> TerminalInfo: ...

    def offers(self, weight: Weight, extras: Sequence[str]) -> list[Offer]:
        """The services the account can print for the piece, cheapest first."""
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
        ...
