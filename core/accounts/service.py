"""Use cases of the accounts area; each runs in one unit of work."""

from __future__ import annotations

import builtins
import hashlib
import math
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import attrs
from sqlalchemy.engine import Connection

from postroom.core.accounts import model
from postroom.core.accounts.closure import AccountClosure
from postroom.core.accounts.closure_store import ClosureStore
from postroom.core.accounts.model import (
    ApiKey,
    CustomerAccount,
    IssuedKey,
    KioskOperator,
    KioskSignIn,
)
from postroom.core.accounts.store import AccountStore
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import Conflict, Locked, NotFound, Unauthenticated, ValidationError

MAX_PAGE = 1000


class AccountsService:
    """``pr.accounts``: customer accounts and their API keys."""

    def __init__(
        self, db: Database, clock: Clock, *, badge_secret: Callable[[], str] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._badge_secret = badge_secret

    def create(self, name: str, country: str, currency: str) -> CustomerAccount:
        clean_name = model.parse_name(name)
        clean_country = model.parse_country(country)
        clean_currency = model.parse_currency(currency)

        def work(uow: UnitOfWork) -> CustomerAccount:
            account = self._add(uow.connection, clean_name, clean_country, clean_currency)
            uow.commit()
            return account

        return self._db.run(work)

    def open_in(self, connection: Connection, name: str, country: str, currency: str) -> str:
        """Open a customer account inside the caller's transaction (another area's use
        case, such as a verified registration); its number."""
        account = self._add(
            connection,
            model.parse_name(name),
            model.parse_country(country),
            model.parse_currency(currency),
        )
        return account.number

    def exists(self, number: str) -> bool:
        try:
            self.get(number)
        except (NotFound, ValidationError):
            return False
        return True

    def _add(
        self, connection: Connection, name: str, country: str, currency: str
    ) -> CustomerAccount:
        store = AccountStore(connection)
        number = model.new_account_number()
        while store.number_taken(number):  # 900 million numbers: rarely more than once
            number = model.new_account_number()
        return store.add(number, name, country, currency, self._clock.now())

    def get(self, number: str) -> CustomerAccount:
        clean = model.parse_account_number(number)
        return self._db.run(lambda uow: _get(AccountStore(uow.connection), clean), readonly=True)

    def many(self, numbers: Iterable[str]) -> dict[str, CustomerAccount]:
        """The accounts of ``numbers`` by number, in one read (a batch job's customers);
        an unknown number is left out."""
        wanted = sorted(set(numbers))
        return {
            account.number: account
            for account in self._db.run(
                lambda uow: AccountStore(uow.connection).get_many(wanted), readonly=True
            )
        }

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

    # ------------------------------------------------------------- kiosk operators

    def add_operator(self, number: str, name: str, pin: str) -> KioskOperator:
        """A new operator of the account's kiosks, signing in with ``pin``."""
        clean = model.parse_account_number(number)
        clean_name = model.parse_operator_name(name)
        pin_hash = model.hash_pin(model.parse_pin(pin))

        def work(uow: UnitOfWork) -> KioskOperator:
            store = AccountStore(uow.connection)
            account = _get(store, clean)
            operator = store.add_operator(account.id, clean_name, pin_hash, self._clock.now())
            uow.commit()
            return operator

        return self._db.run(work)

    def operators(self, number: str) -> builtins.list[KioskOperator]:
        clean = model.parse_account_number(number)

        def work(uow: UnitOfWork) -> builtins.list[KioskOperator]:
            store = AccountStore(uow.connection)
            return store.operators_of(_get(store, clean).id)

        return self._db.run(work, readonly=True)

    def set_operator_pin(self, number: str, operator_id: int, pin: str) -> KioskOperator:
        """Give the operator a new PIN; it signs the operator out of every kiosk."""
        clean = model.parse_account_number(number)
        pin_hash = model.hash_pin(model.parse_pin(pin))

        def work(uow: UnitOfWork) -> KioskOperator:
            store = AccountStore(uow.connection)
            operator = _operator(store, _get(store, clean), operator_id)
            store.set_operator_pin(operator.id, pin_hash)
            store.clear_sign_in_failures(f"operator:{operator.id}")
            uow.commit()
            return operator

        return self._db.run(work)

    def remove_operator(self, number: str, operator_id: int) -> KioskOperator:
        """Remove the operator, signing them out; their prints stay booked to them."""
        clean = model.parse_account_number(number)

        def work(uow: UnitOfWork) -> KioskOperator:
            store = AccountStore(uow.connection)
            operator = _operator(store, _get(store, clean), operator_id)
            store.remove_operator(operator.id)
            uow.commit()
            return operator

        return self._db.run(work)

    def sign_in_operator(
        self, number: str, operator_id: int, pin: str, *, kiosk: str
    ) -> KioskSignIn:
        """Sign an operator in at ``kiosk`` (its network address) with their PIN.

        An unknown operator and a wrong PIN answer the same ``sign_in_failed`` after the
        same work. Failures in a row are counted per operator and per kiosk; past a few,
        sign-in is ``sign_in_locked`` for a while that doubles with each further failure,
        up to ``model.LONGEST_LOCK``: guessing is slowed to a crawl, nobody is shut out
        for good, and a success clears both counts.
        """
        clean = model.parse_account_number(number)
        subjects = {
            f"operator:{operator_id}": model.OPERATOR_FREE_FAILURES,
            f"kiosk:{kiosk[:90]}": model.KIOSK_FREE_FAILURES,
        }

        def attempt(uow: UnitOfWork) -> tuple[KioskOperator | None, str | None]:
            # Counted as a failure *before* the PIN is checked, and locked when it is one
            # too many, all in one transaction per attempt: parallel guesses wait for each
            # other's count instead of all slipping past a lock not yet written.
            store = AccountStore(uow.connection)
            _count_attempt(store, subjects, self._clock.now())
            account = store.get_by_number(clean)
            found = None
            if account is not None and account.status is model.AccountStatus.ACTIVE:
                found = store.operator_with_hash(account.id, operator_id)
            uow.commit()
            return (None, None) if found is None else found

        operator, pin_hash = self._db.run(attempt)
        # verified outside any transaction: argon2 takes tens of milliseconds
        if operator is None or not model.pin_matches(pin, pin_hash):
            raise Unauthenticated("unknown operator or wrong PIN", code="sign_in_failed")
        return self._start_session(operator, subjects)

    def _start_session(self, operator: KioskOperator, subjects: Iterable[str]) -> KioskSignIn:
        token = secrets.token_urlsafe(32)

        def start(uow: UnitOfWork) -> None:
            store = AccountStore(uow.connection)
            for subject in subjects:
                store.clear_sign_in_failures(subject)
            store.add_kiosk_session(_token_hash(token), operator.id, self._clock.now())
            uow.commit()

        self._db.run(start)
        return KioskSignIn(operator, token)

    def sign_in_operator_by_badge(self, number: str, badge: str, *, kiosk: str) -> KioskSignIn:
        """Sign in the operator whose badge a reader at ``kiosk`` typed. Failures are
        counted per kiosk like wrong PINs; an unknown badge is ``unknown_badge``, and a
        badge of another account's operator ``badge_other_account`` (the reader works:
        this person belongs elsewhere)."""
        clean = model.parse_account_number(number)
        subjects = {f"kiosk:{kiosk[:90]}": model.KIOSK_FREE_FAILURES}
        try:
            hashed = model.badge_hash(self._require_badge_secret(), model.parse_badge(badge))
        except ValidationError:
            hashed = ""  # counted like an unknown badge

        def attempt(uow: UnitOfWork) -> tuple[KioskOperator | None, bool]:
            store = AccountStore(uow.connection)
            _count_attempt(store, subjects, self._clock.now())
            account = store.get_by_number(clean)
            holders = store.operator_by_badge(hashed) if hashed else []
            uow.commit()
            if account is None or account.status is not model.AccountStatus.ACTIVE:
                return None, False
            mine = [o for o in holders if o.account_id == account.id]
            return (mine[0] if mine else None), bool(holders) and not mine

        operator, elsewhere = self._db.run(attempt)
        if elsewhere:
            raise Unauthenticated(
                "this badge belongs to another account's operator", code="badge_other_account"
            )
        if operator is None:
            raise Unauthenticated("unknown badge", code="unknown_badge")
        return self._start_session(operator, subjects)

    def _require_badge_secret(self) -> str:
        # asked when a badge is used: an installation without badges needs no secret here
        if self._badge_secret is None:
            raise ValidationError("badges need the installation's secret key", code="no_secret")
        return self._badge_secret()

    def set_operator_badge(self, number: str, operator_id: int, badge: str | None) -> KioskOperator:
        """Give the operator a badge (``None``: take it away); a badge is unique in the
        account (``badge_taken``). Either way the operator is signed out everywhere."""
        clean = model.parse_account_number(number)
        hashed = None
        if badge is not None:
            hashed = model.badge_hash(self._require_badge_secret(), model.parse_badge(badge))

        def work(uow: UnitOfWork) -> KioskOperator:
            store = AccountStore(uow.connection)
            account = _get(store, clean)
            operator = _operator(store, account, operator_id)
            if hashed is not None and store.badge_taken(account.id, hashed):
                raise Conflict("another operator of the account has this badge", code="badge_taken")
            store.set_operator_badge(operator.id, hashed)
            store.end_operator_sessions(operator.id)
            uow.commit()
            return attrs.evolve(operator, has_badge=hashed is not None)

        return self._db.run(work)

    def set_operator_cost_centers(
        self, number: str, operator_id: int, names: Iterable[str], *, account_centers: Iterable[str]
    ) -> KioskOperator:
        """Limit the operator to ``names`` among ``account_centers`` (the account's
        cost centres; ``pr.kiosks`` passes them); no names: all of them."""
        clean = model.parse_account_number(number)
        chosen = model.parse_operator_cost_centers(list(names))
        model.check_cost_centers_exist(chosen, tuple(account_centers))

        def work(uow: UnitOfWork) -> KioskOperator:
            store = AccountStore(uow.connection)
            operator = _operator(store, _get(store, clean), operator_id)
            store.set_operator_cost_centers(operator.id, chosen)
            uow.commit()
            return attrs.evolve(operator, cost_centers=chosen)

        return self._db.run(work)

    def operator(self, number: str, operator_id: int) -> KioskOperator:
        """One operator of the account; another account's is ``operator_not_found``."""
        clean = model.parse_account_number(number)

        def work(uow: UnitOfWork) -> KioskOperator:
            store = AccountStore(uow.connection)
            return _operator(store, _get(store, clean), operator_id)

        return self._db.run(work, readonly=True)

    def kiosk_operator(self, number: str, token: str, *, idle: timedelta) -> KioskOperator:
        """The operator signed in with ``token`` at a kiosk of the account, marked as active
        now. ``kiosk_signed_out`` when there is none, or when the sign-in was idle longer
        than ``idle`` by this installation's clock (it is then ended)."""
        clean = model.parse_account_number(number)
        token_hash = _token_hash(token)

        def work(uow: UnitOfWork) -> KioskOperator | None:
            store = AccountStore(uow.connection)
            found = store.kiosk_session(token_hash)
            account = store.get_by_number(clean)
            if found is None or account is None or found[0].account_id != account.id:
                return None
            operator, last_seen = found
            now = self._clock.now()
            if now - last_seen > idle or account.status is not model.AccountStatus.ACTIVE:
                store.end_kiosk_session(token_hash)
                uow.commit()
                return None
            store.touch_kiosk_session(token_hash, now)
            uow.commit()
            return operator

        operator = self._db.run(work)
        if operator is None:
            raise Unauthenticated("sign in to print", code="kiosk_signed_out")
        return operator

    def sign_out_operator(self, token: str) -> None:
        def work(uow: UnitOfWork) -> None:
            AccountStore(uow.connection).end_kiosk_session(_token_hash(token))
            uow.commit()

        self._db.run(work)

    # ------------------------------------------ for other areas, in their unit of work

    def customer_in(self, uow: UnitOfWork, customer_number: object) -> CustomerAccount:
        """The customer account numbered ``customer_number`` (checked: text with a valid
        check digit) inside the caller's unit of work: ``account_not_found`` if none."""
        if not isinstance(customer_number, str):
            raise ValidationError(
                "a customer account number is text", code="invalid_account_number"
            )
        return _get(AccountStore(uow.connection), model.parse_account_number(customer_number))

    def customer_by_id_in(self, uow: UnitOfWork, customer_id: int) -> CustomerAccount | None:
        return AccountStore(uow.connection).get_by_id(customer_id)

    def customer_by_number_in(self, uow: UnitOfWork, number: str) -> CustomerAccount | None:
        """The customer numbered ``number`` (already clean), None if none: no error."""
        return AccountStore(uow.connection).get_by_number(number)

    def closure_in(self, uow: UnitOfWork, ledger_account_id: int) -> AccountClosure | None:
        """The closing of postage account ``ledger_account_id``, None while it is open."""
        return ClosureStore(uow.connection).closure(ledger_account_id)

    def is_closed_in(self, uow: UnitOfWork, ledger_account_id: int) -> bool:
        return ClosureStore(uow.connection).is_closed(ledger_account_id)

    def record_closure_in(
        self, uow: UnitOfWork, ledger_account_id: int, closure: AccountClosure
    ) -> None:
        """Record that postage account ``ledger_account_id`` is closed (the caller commits)."""
        ClosureStore(uow.connection).add_closure(ledger_account_id, closure)

    def closed_refund_in(self, uow: UnitOfWork, customer_number: str) -> int:
        """Mills the closing of the customer's postage account moved to refunds payable."""
        return ClosureStore(uow.connection).closed_refund(customer_number)

    def closed_customers_in(self, uow: UnitOfWork) -> builtins.list[str]:
        """Customer numbers whose closing left money payable, oldest closing first."""
        return ClosureStore(uow.connection).closed_customers()


def _token_hash(token: str) -> str:
    # 256 random bits: a plain SHA-256 suffices (see model.hash_secret)
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _count_attempt(store: AccountStore, subjects: dict[str, int], now: datetime) -> None:
    """One more sign-in attempt counted for each subject (as a failure until it
    succeeds), locking the ones that reached their free failures; Locked while locked."""
    for subject, free in subjects.items():
        failures, locked_until = store.count_sign_in_attempt(subject)
        if locked_until is not None and locked_until > now:
            wait = math.ceil((locked_until - now).total_seconds())
            raise Locked(  # rolls back: a refused attempt is not counted
                f"too many failed sign-ins: try again in {wait} s",
                code="sign_in_locked",
                retry_after=wait,
            )
        lock = model.lock_after(failures, free)
        if lock is not None:
            store.lock_sign_in(subject, now + lock)


def _operator(store: AccountStore, account: CustomerAccount, operator_id: int) -> KioskOperator:
    found = store.operator_with_hash(account.id, operator_id)
    if found is None:
        raise NotFound(
            f"no kiosk operator {operator_id} on account {account.number}",
            code="operator_not_found",
        )
    return found[0]


def _get(store: AccountStore, number: str) -> CustomerAccount:
    account = store.get_by_number(number)
    if account is None:
        raise NotFound(f"no customer account {number}", code="account_not_found")
    return account
