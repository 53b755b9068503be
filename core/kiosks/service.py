"""Use cases of the kiosks area; each runs in one unit of work.

``pr.kiosks``: the keys of a customer account's mailroom terminals (issue, list with
their last contact, revoke, and authenticate a terminal's request), and the services a
terminal of the account can print for a piece, cheapest first.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from datetime import date

import attrs

from postroom.core.accounts.model import AccountStatus
from postroom.core.clock import Clock, today
from postroom.core.errors import NotFound, Unauthenticated
from postroom.core.kiosks import model
from postroom.core.kiosks.model import IssuedKioskKey, KioskKey
from postroom.core.kiosks.ports import CustomerAccounts, Prices, Session, Transactions
from postroom.core.kiosks.store import KioskKeyRepository, KioskKeyStore
from postroom.core.rates.model import Piece, Quote

RepositoryFactory = Callable[[Session], KioskKeyRepository]


def _store(session: Session) -> KioskKeyRepository:
    return KioskKeyStore(session.connection)


@attrs.frozen
class Offers:
    """What a terminal offers for one piece: the services it can print, cheapest first,
    in the account's currency."""

    currency: str
    options: tuple[Quote, ...]


class KiosksService:
    """``pr.kiosks``: mailroom terminals of customer accounts."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        accounts: CustomerAccounts,
        prices: Prices,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._prices = prices
        self._repository = repository

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
    ) -> Offers:
        """The services the account's terminals can print for ``piece`` with ``extras``,
        cheapest first: only those priced in the account's currency."""
        account = self._accounts.get(customer_number)
        comparison = self._prices.compare(
            piece,
            extras,
            on=on or today(self._clock),
            origin=origin,
            destination=destination,
        )
        return Offers(account.currency, model.printable(comparison.options, account.currency))
