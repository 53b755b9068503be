"""In-memory fakes for the payouts' use cases: their rows, and funding's payments
(on ``FakeFundingRepository``) as the payouts see them. No I/O."""

from __future__ import annotations

from datetime import datetime

import attrs
from fakes_funding import FakeSource, FakeTransaction, FundingWorld, Rollback

from postroom.core.accounts.model import CustomerAccount
from postroom.core.errors import NotFound
from postroom.core.funding.model import Payment
from postroom.core.ledger.model import AccountKind, TransferRequest
from postroom.core.money import Money
from postroom.core.payouts.context import PayoutContext
from postroom.core.payouts.model import NOT_PAID, Payout, PayoutPart, PayoutPartStatus, PayoutStatus
from postroom.core.payouts.ports import PayoutRepos
from postroom.core.payouts.service import PayoutService

LIVE = (PayoutPartStatus.REQUESTED, PayoutPartStatus.PENDING, PayoutPartStatus.SETTLED)


@attrs.define
class _PayoutRow:
    customer_id: int
    payout: Payout


class FakePayouts(Rollback):
    """``PayoutRepository`` in dictionaries."""

    def __init__(self) -> None:
        self.rows: dict[str, _PayoutRow] = {}

    def paid_out(self, customer_id: int) -> int:
        return sum(
            p.amount.mills
            for row in self.rows.values()
            if row.customer_id == customer_id
            for p in row.payout.parts
            if p.status in LIVE
        )

    def taken_and_refused(self) -> tuple[dict[str, int], set[str]]:
        taken: dict[str, int] = {}
        refused: set[str] = set()
        for row in self.rows.values():
            for p in row.payout.parts:
                if p.status in LIVE:
                    taken[p.payment_id] = taken.get(p.payment_id, 0) + p.amount.mills
                if p.status in NOT_PAID:
                    refused.add(p.payment_id)
        return taken, refused

    def add_payout(
        self, id: str, customer_id: int, currency: str, payable: int, unmatched: int, now: datetime
    ) -> None:
        payout = Payout(
            id, "", Money(payable, currency), unmatched, PayoutStatus.IN_PROGRESS, (), now, now
        )
        self.rows[id] = _PayoutRow(customer_id, payout)

    def add_part(
        self,
        id: str,
        payout_id: str,
        position: int,
        payment_id: str,
        source: str,
        amount: Money,
        now: datetime,
    ) -> None:
        row = self.rows[payout_id]
        part = PayoutPart(
            id, payment_id, amount, source, PayoutPartStatus.REQUESTED, "", None, "", None
        )
        row.payout = attrs.evolve(row.payout, parts=(*row.payout.parts, part))

    def update_part(self, id: str, now: datetime, **values: object) -> None:
        if "status" in values:
            values["status"] = PayoutPartStatus(values["status"])
        for row in self.rows.values():
            parts = tuple(
                attrs.evolve(p, **values) if p.id == id else p  # type: ignore[arg-type]
                for p in row.payout.parts
            )
            row.payout = attrs.evolve(row.payout, parts=parts, updated_at=now)

    def submitted_parts(self) -> list[tuple[str, str, datetime]]:
        return [
            (p.id, p.source, row.payout.created_at)
            for row in self.rows.values()
            for p in row.payout.parts
            if p.status is PayoutPartStatus.PENDING
        ]

    def settle_part(self, id: str, now: datetime) -> bool:
        if id not in {p.id for p, _ in self._parts() if p.status is PayoutPartStatus.PENDING}:
            return False
        self.update_part(id, now, status=PayoutPartStatus.SETTLED.value)
        return True

    def part_owner(self, part_id: str) -> tuple[str, int] | None:
        return next(
            ((row.payout.id, row.customer_id) for p, row in self._parts() if p.id == part_id), None
        )

    def set_status(self, payout_id: str, status: PayoutStatus, now: datetime) -> None:
        row = self.rows[payout_id]
        row.payout = attrs.evolve(row.payout, status=status, updated_at=now)

    def in_progress(self, customer_id: int) -> str | None:
        return next(
            (
                row.payout.id
                for row in self.rows.values()
                if row.customer_id == customer_id and row.payout.status is PayoutStatus.IN_PROGRESS
            ),
            None,
        )

    def payout(self, id: str, customer_id: int, number: str) -> Payout | None:
        row = self.rows.get(id)
        if row is None or row.customer_id != customer_id:
            return None
        return attrs.evolve(row.payout, customer_number=number)

    def payout_ids(self, customer_id: int, limit: int) -> list[str]:
        rows = [r.payout for r in self.rows.values() if r.customer_id == customer_id]
        rows.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return [p.id for p in rows][:limit]

    def _parts(self) -> list[tuple[PayoutPart, _PayoutRow]]:
        return [(p, row) for row in self.rows.values() for p in row.payout.parts]


@attrs.frozen
class FakePayments:
    """Funding's payments as the payouts see them (``PaymentsPort``)."""

    world: FundingWorld

    def payment(self, payment_id: str, customer: CustomerAccount) -> Payment:
        found = self.world.funding.payment(payment_id, customer.id, customer.number)
        if found is None:
            raise NotFound(f"no payment {payment_id!r}", code="payment_not_found")
        return found

    def settled_payments(
        self, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]:
        return self.world.funding.settled_payments(customer_id, kinds, sources)

    def instrument_details(self, payment_id: str) -> str:
        return self.world.funding.instrument_details(payment_id)

    def add_refunded(self, payment_id: str, mills: int) -> None:
        self.world.funding.add_refunded(payment_id, mills, self.world.clock.now())


class PayoutWorld(FundingWorld):
    """Funding's fakes plus the payouts' (``payouts``, as ``pr.payouts``): deposits are
    made with ``service``, then the account is closed with ``close``."""

    def __init__(self, *sources: FakeSource) -> None:
        super().__init__(*sources)
        self.payout_rows = FakePayouts()
        self.transactions.watch(self.payout_rows)
        self.payouts = PayoutService(
            PayoutContext(
                self.transactions,
                self.payout_repositories,
                self.clock,
                lambda: dict(self.sources),
                self.outbox,
            )
        )

    def payout_repositories(self, uow: FakeTransaction) -> PayoutRepos:
        return PayoutRepos(
            self.payout_rows,
            self.ledger,
            self.customers,
            FakePayments(self),
            self.outbox,
            uow.commit,
        )

    def close(self, customer_number: str) -> None:
        """Close the customer's postage account: its balance moves to refunds payable."""
        postage = self.ledger.postage_account(customer_number)
        refunds = self.ledger.system_account(AccountKind.REFUNDS, postage.currency)
        balance = postage.balances.available
        self.ledger.post(
            [
                TransferRequest(
                    f"close:{customer_number}", postage.id, refunds.id, balance, postage.currency
                )
            ]
        )
        self.customers.closed_accounts.add(postage.id)
        self.customers.closed_refunds[customer_number] = balance
