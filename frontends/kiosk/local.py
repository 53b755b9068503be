"""The terminal's data center when it is the local store (the embedded default, one
machine): the same use cases the API runs, called in process."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import attrs

from postroom.core.accounts.model import KioskOperator
from postroom.core.app import Postroom
from postroom.core.kiosks.meter_pieces import MeterPrint
from postroom.core.kiosks.model import KioskPiece, Notice, PieceReport
from postroom.core.rates.model import ExtraService, Piece, Quote
from postroom.core.units import Weight
from postroom.frontends.kiosk.backend import (
    LETTER,
    MeterReport,
    MisprintAnswer,
    Offer,
    OfferExtra,
    OfferLine,
    OfferList,
    OperatorChoice,
    PieceSize,
    PrintedPiece,
    RefusedOffer,
    TerminalInfo,
    TrackedPiece,
)
from postroom.frontends.serialise.kiosks import table_extras


def offer_of(quote: Quote, extras: Sequence[ExtraService] = ()) -> Offer:
    return Offer(
        quote.table.carrier,
        quote.table.service,
        quote.table.name,
        quote.table.delivery,
        quote.total,
        tuple(OfferLine(line.description, line.amount) for line in quote.lines),
        quote.table.digest,
        tuple(
            OfferExtra(extra.code, extra.name, extra.price)
            for extra in extras
            if extra.price is not None  # one priced by declared value needs that value
        ),
    )


class LocalDataCenter:
    """``DataCenter`` on an open Postroom, for the account ``customer_number``."""

    def __init__(self, postroom: Postroom, customer_number: str, label: str) -> None:
        self._pr = postroom
        self._number = postroom.accounts.get(customer_number).number
        self._label = label

    def terminal(self) -> TerminalInfo:
        account = self._pr.accounts.get(self._number)
        return TerminalInfo(
            account.number,
            account.name,
            account.country,
            account.currency,
            self._label,
            self._pr.meters.print_cost_centers(account.number),
            tuple(OperatorChoice(o.id, o.name) for o in self._pr.accounts.operators(self._number)),
            self._pr.config.kiosk_idle_seconds,
        )

    def offers(self, weight: Weight, extras: Sequence[str], size: PieceSize = LETTER) -> OfferList:
        found = self._pr.kiosks.offers(
            self._number,
            Piece(weight.require_positive(), size.dimensions),
            extras,
            shape=size.shape,
        )
        return OfferList(
            tuple(offer_of(q, table_extras(self._pr.rates, q)) for q in found.options),
            tuple(
                RefusedOffer(
                    r.carrier, r.service, r.code, r.message, r.limit, r.dimension, r.bound, r.name
                )
                for r in found.refused
            ),
        )

    def sign_in(self, operator_id: int, pin: str) -> str:
        signed_in = self._pr.accounts.sign_in_operator(
            self._number, operator_id, pin, kiosk=f"terminal:{self._label}"
        )
        return signed_in.token

    def _operator(self, token: str) -> KioskOperator:
        idle = timedelta(seconds=self._pr.config.kiosk_idle_seconds)
        return self._pr.accounts.kiosk_operator(self._number, token, idle=idle)

    def operator(self, token: str) -> OperatorChoice:
        found = self._operator(token)
        centers = found.usable_cost_centers(self._pr.kiosks.cost_centers(self._number))
        return OperatorChoice(found.id, found.name, centers)

    def sign_out(self, token: str) -> None:
        self._pr.accounts.sign_out_operator(token)

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
        operator = self._operator(token)
        operator.check_cost_center(cost_center)
        printed = self._pr.meters.print_postage(
            self._number,
            carrier,
            service,
            weight,
            extras,
            cost_center,
            idempotency_key,
            origin_zip=origin_zip,
            printed_by=operator.label,
        )
        self._pr.kiosks.log_printed(self._number, printed, operator, self.terminal_name)
        return PrintedPiece(
            printed.serial,
            printed.piece,
            printed.postage,
            printed.carrier,
            printed.service,
            printed.cost_center,
            printed.symbol,
        )

    def indicium_png(self, serial: str, piece: int) -> bytes:
        return self._pr.meters.printed_postage(self._number, serial, piece).render("png")

    def record_meter_pieces(self, token: str, reports: Sequence[MeterReport]) -> None:
        operator = self._operator(token)
        prints = [
            MeterPrint(r.record, r.signature, r.carrier, r.cost_center, r.request_id)
            for r in reports
        ]
        self._pr.kiosk_pieces.record_all(
            self._number, prints, operator.id, operator.name, self._label
        )

    def flag_misprint(self, token: str, serial: str, piece: int) -> MisprintAnswer:
        operator = self._operator(token)
        flag = self._pr.kiosk_pieces.flag_misprint(self._number, serial, piece, operator.label)
        return MisprintAnswer(flag.status, flag.refund_id)

    @property
    def terminal_name(self) -> str:
        """How the piece log and the reports name this terminal."""
        return self._label

    def sign_in_badge(self, badge: str) -> str:
        signed_in = self._pr.accounts.sign_in_operator_by_badge(
            self._number, badge, kiosk=f"terminal:{self._label}"
        )
        return signed_in.token

    def log_piece(self, piece: KioskPiece) -> bool:
        return self._pr.kiosks.log_piece(self._number, attrs.evolve(piece, terminal=self._label))

    def report(self) -> PieceReport:
        return self._pr.kiosks.report(self._number, terminal=self._label)

    def track(self, number: str) -> TrackedPiece:
        found = self._pr.tracking.lookup(number)
        return TrackedPiece(found.number, found.carrier, found.status, found.delivered_at)

    def open_case(self, operator: str, subject: str, description: str, idempotency_key: str) -> str:
        return self._pr.kiosks.open_case(
            self._number, operator, subject, description, idempotency_key
        )

    def notices(self) -> list[Notice]:
        return self._pr.kiosks.notices(self._number)
