"""Use cases of the accounts area; each runs in one unit of work."""

from __future__ import annotations

import builtins

from postroom.core.accounts import model
from postroom.core.accounts.model import ApiKey, CustomerAccount, IssuedKey
from postroom.core.accounts.store import AccountStore
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import NotFound, Unauthenticated, ValidationError

MAX_PAGE = 1000


class AccountsService:
    """``pr.accounts``: customer accounts and their API keys."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, country: str, currency: str) -> CustomerAccount:
        clean_name = model.parse_name(name)
        clean_country = model.parse_country(country)
        clean_currency = model.parse_currency(currency)

        def work(uow: UnitOfWork) -> CustomerAccount:
            store = AccountStore(uow.connection)
            number = model.new_account_number()
            while store.number_taken(number):  # 900 million numbers: rarely more than once
                number = model.new_account_number()
            account = store.add(
                number, clean_name, clean_country, clean_currency, self._clock.now()
            )
            uow.commit()
            return account

        return self._db.run(work)

    def get(self, number: str) -> CustomerAccount:
        clean = model.parse_account_number(number)
        return self._db.run(lambda uow: _get(AccountStore(uow.connection), clean), readonly=True)

    def list(self, *, limit: int = 100, offset: int = 0) -> builtins.list[CustomerAccount]:
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise ValidationError(
                f"limit must be 1..{MAX_PAGE} and offset not negative", code="invalid_page"
            )
        return self._db.run(
            lambda uow: AccountStore(uow.connection).page(limit=limit, offset=offset),
            readonly=True,
        )

    def create_api_key(self, number: str, label: str = "") -> IssuedKey:
        """A new key for the account; the returned token is shown once and never stored."""
        clean = model.parse_account_number(number)
        label = " ".join(label.split())[:100]

        def work(uow: UnitOfWork) -> IssuedKey:
            store = AccountStore(uow.connection)
            account = _get(store, clean)
            material = model.new_key_material()
            key = store.add_key(
                account.id, material.prefix, material.secret_hash, label, self._clock.now()
            )
            uow.commit()
            return IssuedKey(key, material.token)

        return self._db.run(work)

    def api_keys(self, number: str) -> builtins.list[ApiKey]:
        clean = model.parse_account_number(number)

        def work(uow: UnitOfWork) -> builtins.list[ApiKey]:
            store = AccountStore(uow.connection)
            return store.keys_of(_get(store, clean).id)

        return self._db.run(work, readonly=True)

    def revoke_api_key(self, prefix: str) -> ApiKey:
        def work(uow: UnitOfWork) -> ApiKey:
            store = AccountStore(uow.connection)
            found = store.key_with_hash(prefix.strip())
            if found is None:
                raise NotFound(f"no API key {prefix!r}", code="api_key_not_found")
            key = found[0]
            if key.revoked_at is None:
                now = self._clock.now()
                store.revoke_key(key.id, now)
                uow.commit()
                key.revoked_at = now
            return key

        return self._db.run(work)

    def authenticate(self, token: str) -> CustomerAccount:
        """The account a bearer token belongs to; Unauthenticated for anything else."""
        prefix, secret = model.split_token(token)

        def work(uow: UnitOfWork) -> CustomerAccount:
            store = AccountStore(uow.connection)
            found = store.key_with_hash(prefix)
            if found is None or not model.secret_matches(secret, found[1]):
                raise Unauthenticated("unknown API key", code="invalid_api_key")
            key = found[0]
            if not key.active:
                raise Unauthenticated("this API key was revoked", code="api_key_revoked")
            account = store.get_by_id(key.account_id)
            if account is None or account.status is not model.AccountStatus.ACTIVE:
                raise Unauthenticated("the key's account is not active", code="account_inactive")
            return account

        return self._db.run(work, readonly=True)


def _get(store: AccountStore, number: str) -> CustomerAccount:
    account = store.get_by_number(number)
    if account is None:
        raise NotFound(f"no customer account {number}", code="account_not_found")
    return account
