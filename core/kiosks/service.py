"""Use cases of the kiosks area; each runs in one unit of work.

``pr.kiosks``: the keys of a customer account's mailroom terminals (issue, list with
their last contact, revoke, and authenticate a terminal's request), and the services a
terminal of the account can print for a piece, cheapest first.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import attrs

from postroom.core.accounts.model import AccountStatus, KioskOperator
from postroom.core.clock import Clock, today
from postroom.core.errors import (
    ConfigurationError,
    Conflict,
    NotFound,
    Unauthenticated,
    ValidationError,
)
from postroom.core.kiosks import model
from postroom.core.kiosks.model import IssuedKioskKey, KioskKey, KioskPiece, Notice, PieceReport
from postroom.core.kiosks.ports import (
    AccountFacts,
    CustomerAccounts,
    Operators,
    Prices,
    Session,
    Transactions,
)
from postroom.core.kiosks.store import KioskKeyRepository, KioskKeyStore
from postroom.core.meters.virtual import PrintedPostage
from postroom.core.rates.model import Piece, Quote
from postroom.core.rates.service import Refusal

RepositoryFactory = Callable[[Session], KioskKeyRepository]


def _store(session: Session) -> KioskKeyRepository:
    return KioskKeyStore(session.connection)


@attrs.frozen
class Offers:
    """What a terminal offers for one piece: the services it can print, cheapest first,
    in the account's currency."""

    currency: str
    options: tuple[Quote, ...]
    #: The services of the piece's shape in that currency that cannot carry it (too
    #: heavy, too big, too small), with the reason: the screen shows why.
    refused: tuple[Refusal, ...] = ()


class KiosksService:
    """``pr.kiosks``: mailroom terminals of customer accounts."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        accounts: CustomerAccounts,
        prices: Prices,
        operators: Operators | None = None,
        facts: AccountFacts | None = None,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._prices = prices
        self._operators = operators
        self._facts = facts
        self._repository = repository

    def _facts_port(self) -> AccountFacts:
        if self._facts is None:
            raise ConfigurationError("the kiosks area was built without its account facts")
        return self._facts

    # ------------------------------------------------------------------- keys

    def issue_key(self, customer_number: str, label: str) -> IssuedKioskKey:
        """A key for one more terminal of the account; its token is shown once."""
        clean_label = model.parse_label(label)
        account = self._accounts.get(customer_number)
        now = self._clock.now()

        def work(uow: Session) -> IssuedKioskKey:
            repository = self._repository(uow)
            material = model.new_key_material()
            while repository.prefix_taken(material.prefix):  # 2**48 prefixes: rarely
                material = model.new_key_material()
            key = repository.add(
                KioskKey(0, account.number, material.prefix, clean_label, now),
                material.secret_hash,
            )
            uow.commit()
            return IssuedKioskKey(key, material.token)

        return self._db.run(work)

    def keys(self, customer_number: str) -> builtins.list[KioskKey]:
        """The account's terminal keys, oldest first, revoked ones included."""
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._repository(uow).of_customer(account.number), readonly=True
        )

    def revoke_key(self, customer_number: str, prefix: str) -> KioskKey:
        """Revoke the account's key ``prefix``: its terminal is refused from now on.
        Another account's key is not found (the same answer as an unknown one)."""
        clean = model.parse_prefix(prefix)
        account = self._accounts.get(customer_number)
        now = self._clock.now()

        def work(uow: Session) -> KioskKey:
            repository = self._repository(uow)
            found = repository.with_hash(clean)
            if found is None or found[0].customer_number != account.number:
                raise NotFound(
                    f"no kiosk key {clean} on account {account.number}",
                    code="kiosk_key_not_found",
                )
            key = found[0]
            if key.revoked_at is None:
                repository.revoke(key.id, now)
                uow.commit()
                key = attrs.evolve(key, revoked_at=now)
            return key

        return self._db.run(work)

    def authenticate(self, token: str) -> KioskKey:
        """The terminal key ``token`` is, its contact recorded; Unauthenticated for a
        malformed, unknown or revoked key, or one whose account is not active."""
        prefix, secret = model.split_token(token)
        now = self._clock.now()

        def work(uow: Session) -> KioskKey:
            repository = self._repository(uow)
            found = repository.with_hash(prefix)
            if not model.key_matches(secret, found[1] if found else None) or found is None:
                raise Unauthenticated("unknown kiosk key", code="invalid_kiosk_key")
            key = found[0]
            if not key.active:
                raise Unauthenticated("this kiosk key was revoked", code="kiosk_key_revoked")
            if model.contact_due(key.last_contact_at, now):
                repository.record_contact(key.id, now)
                uow.commit()
                key = attrs.evolve(key, last_contact_at=now)
            return key

        key = self._db.run(work)
        account = self._accounts.get(key.customer_number)
        if account.status is not AccountStatus.ACTIVE:
            raise Unauthenticated("the kiosk's account is not active", code="account_inactive")
        return key

    # --------------------------------------------------------------- offers

    def offers(
        self,
        customer_number: str,
        piece: Piece,
        extras: Sequence[str] = (),
        *,
        on: date | None = None,
        origin: str | None = None,
        destination: str | None = None,
        shape: str | None = None,
    ) -> Offers:
        """The services the account's terminals can print for ``piece`` with ``extras``,
        cheapest first: only those priced in the account's currency. With ``shape``
        (``model.PIECE_SHAPES``: letter, large_envelope, parcel), only the services of
        that shape, a measured one priced with its dimensions, and those it is too big or
        too heavy for listed in ``refused`` with the reason."""
        shapes = None
        if shape is not None:
            shapes = model.PIECE_SHAPES[model.piece_shape(shape)]
            model.check_measured(shape, piece)
        account = self._accounts.get(customer_number)
        comparison = self._prices.compare(
            piece,
            extras,
            on=on or today(self._clock),
            origin=origin,
            destination=destination,
            shapes=shapes,
        )
        refused: tuple[Refusal, ...] = ()
        if shape is not None:
            refused = tuple(
                r
                for r in comparison.refused
                if r.currency == account.currency and r.code in model.SHOWN_REFUSALS
            )
        return Offers(
            account.currency, model.printable(comparison.options, account.currency), refused
        )

    # ------------------------------------------------------------ operators

    def cost_centers(self, customer_number: str) -> tuple[str, ...]:
        """The cost centres the account's prints may be booked to."""
        return self._facts_port().cost_centers(self._accounts.get(customer_number).number)

    def set_operator_cost_centers(
        self, customer_number: str, operator_id: int, names: Sequence[str]
    ) -> KioskOperator:
        """Limit the operator to ``names``, cost centres of the account (``unknown_cost_center``
        otherwise); none: all the account's. Owners and admins only (the callers check)."""
        if self._operators is None:
            raise ConfigurationError("the kiosks area was built without the operators")
        return self._operators.set_operator_cost_centers(
            customer_number,
            operator_id,
            names,
            account_centers=self.cost_centers(customer_number),
        )

    # ------------------------------------------------------------ piece log

    def log_piece(self, customer_number: str, piece: KioskPiece) -> bool:
        """Log a piece a terminal of the account printed; whether it is new. The same
        piece again (a queue's retry) changes nothing; the same serial and piece sent
        for another account, or with another body, is ``piece_conflict``."""
        account = self._accounts.get(customer_number)
        clean = model.check_piece(piece)
        if clean.postage.currency != account.currency:
            raise ValidationError(
                "the piece's postage is not in the account's currency", code="currency_mismatch"
            )

        def work(uow: Session) -> bool:
            repository = self._repository(uow)
            found = repository.piece(clean.serial, clean.piece)
            if found is not None:
                if found[0] != account.number or not model.same_logged_piece(found[1], clean):
                    raise Conflict(
                        f"piece {clean.piece} of {clean.serial} was logged otherwise",
                        code="piece_conflict",
                    )
                return False
            repository.add_piece(account.number, clean)
            uow.commit()
            return True

        return self._db.run(work)

    def log_printed(
        self,
        customer_number: str,
        printed: PrintedPostage,
        operator: KioskOperator,
        terminal: str,
    ) -> bool:
        """Log a piece the account's virtual meter printed for ``operator`` at
        ``terminal`` (a retry's answer logs nothing new)."""
        piece = KioskPiece(
            serial=printed.serial,
            piece=printed.piece,
            printed_at=printed.printed_at,
            postage=printed.postage,
            carrier=printed.carrier,
            service=printed.service,
            cost_center=printed.cost_center,
            operator_id=operator.id,
            operator_name=operator.name,
            terminal=terminal[: model.MAX_LOG_TEXT],
        )
        return self.log_piece(customer_number, piece)

    def report(
        self, customer_number: str, day: date | None = None, *, terminal: str | None = None
    ) -> PieceReport:
        """The pieces of ``day`` (today by default, UTC) printed at the account's
        terminals (or at ``terminal`` alone), by cost centre and by operator."""
        account = self._accounts.get(customer_number)
        when = day or today(self._clock)
        start = datetime.combine(when, time(), tzinfo=UTC)
        end = start + timedelta(days=1)
        pieces = self._db.run(
            lambda uow: self._repository(uow).pieces(account.number, start, end, terminal),
            readonly=True,
        )
        return model.report_of(when, account.currency, pieces)

    # ----------------------------------------------------- notices and help

    def notices(self, customer_number: str) -> builtins.list[Notice]:
        """What the account's terminals say until it is fixed: funds below the alert
        threshold, a meter whose inspection is due or overdue."""
        account = self._accounts.get(customer_number)
        facts = self._facts_port()
        now = self._clock.now()
        available, threshold = facts.funds(account.number)
        found = [model.funds_notice(available, threshold)]
        found += [
            model.inspection_notice(serial, due, lock, now)
            for serial, due, lock in facts.inspections(account.number)
        ]
        return [notice for notice in found if notice is not None]

    def open_case(
        self,
        customer_number: str,
        operator: str,
        subject: str,
        description: str,
        idempotency_key: str,
    ) -> str:
        """Open a support case from a terminal (its description names the meter and the
        last pieces); its number. The same ``idempotency_key`` again (a queued case
        sent once more) answers the same case and opens none."""
        account = self._accounts.get(customer_number)
        key = model.check_request_key(idempotency_key)
        facts = self._facts_port()

        def work(uow: Session) -> str:
            # one transaction: the case and the answer to its key are kept together, so a
            # retry finds the case, and a failed open leaves no answer behind
            repository = self._repository(uow)
            first = repository.answer(account.number, key)
            if first is not None:
                return first
            number = facts.open_case_in(uow, account.number, operator, subject, description)
            repository.add_answer(account.number, key, number, self._clock.now())
            uow.commit()
            return number

        return self._db.run(work)
