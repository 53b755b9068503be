"""In-memory fakes of what the kiosks use cases depend on: the repository, the
transactions (rolled back unless committed), the accounts and the prices. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import attrs
from fakes_transactions import StateDatabase

from postroom.core.accounts.model import AccountStatus, CustomerAccount
from postroom.core.errors import NotFound
from postroom.core.kiosks.model import KioskKey, KioskPiece
from postroom.core.money import Money
from postroom.core.rates.model import Piece, Quote, Source, TableRef
from postroom.core.rates.service import Comparison, Refusal
from postroom.core.units import Weight


@attrs.define
class State:
    """Everything the fakes keep; copied at the start of a transaction, restored on
    rollback."""

    keys: dict[str, tuple[KioskKey, str]] = attrs.field(factory=dict)
    pieces: dict[tuple[str, int], tuple[str, KioskPiece]] = attrs.field(factory=dict)
    answers: dict[tuple[str, str], str] = attrs.field(factory=dict)
    cases: list[tuple[str, str, str, str]] = attrs.field(factory=list)
    writes: int = 0


class FakeDatabase(StateDatabase[State]):
    def __init__(self) -> None:
        super().__init__(State())


@attrs.define
class FakeKioskKeys:
    """``KioskKeyRepository`` on the fake database's state."""

    db: FakeDatabase

    @property
    def _s(self) -> State:
        return self.db.state

    def add(self, key: KioskKey, secret_hash: str) -> KioskKey:
        stored = attrs.evolve(key, id=len(self._s.keys) + 1)
        self._s.keys[stored.prefix] = (stored, secret_hash)
        self._s.writes += 1
        return stored

    def prefix_taken(self, prefix: str) -> bool:
        return prefix in self._s.keys

    def of_customer(self, customer_number: str) -> list[KioskKey]:
        found = [k for k, _ in self._s.keys.values() if k.customer_number == customer_number]
        return sorted(found, key=lambda k: k.id)

    def with_hash(self, prefix: str) -> tuple[KioskKey, str] | None:
        found = self._s.keys.get(prefix)
        return (attrs.evolve(found[0]), found[1]) if found else None

    def _update(self, key_id: int, **changes: Any) -> None:
        for prefix, (key, secret_hash) in self._s.keys.items():
            if key.id == key_id:
                self._s.keys[prefix] = (attrs.evolve(key, **changes), secret_hash)
                self._s.writes += 1

    def revoke(self, key_id: int, at: datetime) -> None:
        self._update(key_id, revoked_at=at)

    def record_contact(self, key_id: int, at: datetime) -> None:
        self._update(key_id, last_contact_at=at)

    def piece(self, serial: str, piece: int) -> tuple[str, KioskPiece] | None:
        return self._s.pieces.get((serial, piece))

    def add_piece(self, customer_number: str, piece: KioskPiece) -> None:
        self._s.pieces[(piece.serial, piece.piece)] = (customer_number, piece)
        self._s.writes += 1

    def pieces(
        self, customer_number: str, start: datetime, end: datetime, terminal: str | None
    ) -> list[KioskPiece]:
        return [
            p
            for number, p in self._s.pieces.values()
            if number == customer_number
            and start <= p.printed_at < end
            and terminal in (None, p.terminal)
        ]

    def answer(self, customer_number: str, key: str) -> str | None:
        return self._s.answers.get((customer_number, key))

    def add_answer(self, customer_number: str, key: str, answer: str, at: datetime) -> None:
        self._s.answers[(customer_number, key)] = answer
        self._s.writes += 1


@attrs.define
class FakeFacts:
    """``AccountFacts``: cost centres, funds, meters' inspections and cases, as set."""

    db: FakeDatabase
    centers: tuple[str, ...] = ("Legal", "Sales")
    available: Money = attrs.field(factory=lambda: Money(50_000, "USD"))
    threshold: Money | None = None
    meters: list[tuple[str, datetime | None, datetime | None]] = attrs.field(factory=list)

    def cost_centers(self, customer_number: str) -> tuple[str, ...]:
        return self.centers

    def funds(self, customer_number: str) -> tuple[Money, Money | None]:
        return self.available, self.threshold

    def inspections(
        self, customer_number: str
    ) -> list[tuple[str, datetime | None, datetime | None]]:
        return self.meters

    def open_case_in(
        self, uow: Any, customer_number: str, name: str, subject: str, description: str
    ) -> str:
        self.db.state.cases.append((customer_number, name, subject, description))
        return f"C-{len(self.db.state.cases):04d}"


def account(number: str, country: str = "US", currency: str = "USD") -> CustomerAccount:
    return CustomerAccount(
        id=int(number[:3]),
        number=number,
        name=f"Account {number}",
        country=country,
        currency=currency,
        status=AccountStatus.ACTIVE,
        created_at=datetime.fromisoformat("2026-01-05T08:00:00+00:00"),
    )


@attrs.define
class FakeAccounts:
    accounts: dict[str, CustomerAccount] = attrs.field(factory=dict)

    def get(self, number: str) -> CustomerAccount:
        if number not in self.accounts:
            raise NotFound(f"no customer account {number}", code="account_not_found")
        return self.accounts[number]


def priced(carrier: str, service: str, mills: int, currency: str) -> Quote:
    table = TableRef(
        carrier, service, service, date(2026, 1, 1), "d" * 64, Source("notice", "https://x")
    )
    return Quote(Money(mills, currency), (), table, Weight.of(1, "oz"))


@attrs.define
class FakePrices:
    """Every loaded service's price for any piece, as ``RatesService.compare`` answers
    (ordered by currency, then price)."""

    options: list[Quote] = attrs.field(factory=list)
    asked: list[tuple[Piece, tuple[str, ...], date | None]] = attrs.field(factory=list)
    #: What the comparison refuses (as ``RatesService.compare`` lists it), and the shapes asked.
    refused: list[Refusal] = attrs.field(factory=list)
    shapes_asked: list[tuple[str, ...] | None] = attrs.field(factory=list)

    def compare(
        self,
        piece: Piece,
        extras: Sequence[str] = (),
        *,
        on: date | None = None,
        origin: str | None = None,
        destination: str | None = None,
        carriers: Sequence[str] | None = None,
        shapes: Sequence[str] | None = None,
    ) -> Comparison:
        self.asked.append((piece, tuple(extras), on))
        self.shapes_asked.append(None if shapes is None else tuple(shapes))
        ordered = sorted(self.options, key=lambda q: (q.total.currency, q.total.mills))
        return Comparison(tuple(ordered), tuple(self.refused))
