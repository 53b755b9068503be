"""Use cases of the identity area: registration, sign-in and sessions, resets, profile,
people and roles. Each runs in one unit of work (docs/identity.md)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from babel.numbers import get_territory_currencies
from sqlalchemy.engine import Connection

from postroom.core.clock import Clock
from postroom.core.db import Database
from postroom.core.errors import (
    Conflict,
    Locked,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationError,
)
from postroom.core.identity import model
from postroom.core.identity.mail import Mailer
from postroom.core.identity.model import (
    FormCheck,
    IssuedLink,
    PortalRole,
    Registration,
    SessionRules,
    SignIn,
    StaffRole,
    TokenPurpose,
    User,
)
from postroom.core.identity.store import IdentityRepository, SqlTransactions
from postroom.core.outbox import Outbox
from postroom.core.ports import Addressee, Notification
from postroom.core.timezones import parse_time_zone

T = TypeVar("T")


class IdentityUnit(Protocol):
    """One transaction of the identity area, with what it may touch besides its tables."""

    @property
    def repo(self) -> IdentityRepository: ...

    def commit(self) -> None: ...

    def send(self, notification: Notification) -> None:
        """Queue the message in this transaction; it is delivered after the commit."""
        ...

    def open_customer_account(self, name: str, country: str, currency: str) -> str:
        """Open a customer account in this transaction; its number."""
        ...


class Transactions(Protocol):
    def run(self, work: Callable[[IdentityUnit], T], *, readonly: bool = False) -> T: ...

    def reading(self, connection: Any) -> IdentityRepository:
        """The repository on another area's transaction ``connection``, to read in it."""
        ...


class MeterRegistry(Protocol):
    """The meters area, as registration asks it (wired in core/app.py)."""

    def registered_to(self, customer_number: str, serial: str) -> bool:
        """Whether a meter with ``serial`` is registered to that customer account."""
        ...


class CustomerAccounts(Protocol):
    def exists(self, number: str) -> bool: ...


#: Where a phone number without a country code is read, by the person's language.
PHONE_REGION = {"en": "US", "fr": "FR"}
DEFAULT_COUNTRY = "US"


def _currency(country: str) -> str:
    currencies = get_territory_currencies(country)
    return currencies[0] if currencies else "USD"


class IdentityService:
    """``pr.identity``: the people who sign in to the portal, and their sessions."""

    def __init__(
        self,
        transactions: Transactions,
        clock: Clock,
        mailer: Mailer,
        meters: MeterRegistry,
        customers: CustomerAccounts,
        sessions: SessionRules,
    ) -> None:
        self._tx = transactions
        self._clock = clock
        self._mailer = mailer
        self._meters = meters
        self._customers = customers
        self.session_rules = sessions

    @classmethod
    def on_database(
        cls,
        db: Database,
        outbox: Outbox,
        open_account: Callable[[Connection, str, str, str], str],
        clock: Clock,
        mailer: Mailer,
        meters: MeterRegistry,
        customers: CustomerAccounts,
        sessions: SessionRules,
    ) -> IdentityService:
        """``pr.identity`` on the database: its messages go to the outbox, and a
        verified registration opens its customer account with ``open_account`` in the
        same transaction (the tests hand the constructor fakes instead)."""
        return cls(
            SqlTransactions(db, outbox, open_account),
            clock,
            mailer,
            meters,
            customers,
            sessions,
        )

    # ------------------------------------------------------------ registration

    def register(self, form: Registration) -> IssuedLink | None:
        """Register a person. Every field is checked (all wrong ones reported at once).

        With ``customer_number`` and ``serial`` the person joins that customer account
        (only when a meter with that serial is registered to it): as its owner when it
        has no verified portal user yet, else as a user (its owners and admins are told
        once the address is verified). Without both, a new customer account
        is opened when the email is verified. An email that is already registered gets
        a message saying so, and the caller learns nothing of it (None is returned,
        as the page must look the same); otherwise the verification link (mailed).
        """
        check = FormCheck()
        language = form.language if form.language in model.LANGUAGES else "en"
        email = check.parse("email", model.parse_email, form.email)
        check.parse("password", model.check_password, form.password)
        question = check.parse("security_question", model.parse_question, form.security_question)
        answer = check.parse("security_answer", model.parse_answer, form.security_answer)
        name = check.parse("name", model.parse_name, form.name)
        company = check.parse("company", model.parse_company, form.company)
        phone = check.parse("phone", model.parse_phone, form.phone, PHONE_REGION[language])
        customer_number = "".join(form.customer_number.split()).replace("-", "")
        serial = form.serial.strip()
        if customer_number or serial:
            if not customer_number:
                check.add(
                    "customer_number",
                    model.invalid(
                        "customer_number", "required", "customer_number is required with a serial"
                    ),
                )
            elif not serial:
                check.add(
                    "serial",
                    model.invalid(
                        "serial", "required", "serial is required with a customer number"
                    ),
                )
            elif len(serial) > 40 or not self._meters.registered_to(customer_number, serial):
                check.add(
                    "serial",
                    model.invalid(
                        "serial",
                        "no_matching_meter",
                        "no meter with this serial is registered to this customer account",
                    ),
                )
        check.done()
        password_hash = model.hash_secret(form.password)
        answer_hash = model.hash_secret(answer)
        now = self._clock.now()
        token = model.new_token()

        def work(unit: IdentityUnit) -> IssuedLink | None:
            repo = unit.repo
            existing = repo.user_by_email(email)
            if existing is not None:
                if not self._may_mail(unit, email):
                    return None
                unit.send(
                    self._mailer.message(
                        "duplicate",
                        existing.email,
                        existing.language,
                        name=existing.name,
                        link=self._mailer.link("/account/sign-in"),
                    )
                )
                unit.commit()
                return None
            role = PortalRole.OWNER.value
            if customer_number:
                people = [u for u in repo.users_of(customer_number) if u.verified]
                if people:
                    role = PortalRole.USER.value
            user = repo.add_user(
                {
                    "email": email,
                    "name": name,
                    "company": company,
                    "phone": phone,
                    "language": language,
                    "account_number": customer_number or None,
                    "staff": False,
                    "role": role,
                    "password_hash": password_hash,
                    "security_question": question,
                    "security_answer_hash": answer_hash,
                    "verified_at": None,
                    "created_at": now,
                }
            )
            self._issue(unit, user, TokenPurpose.VERIFY, token, now)
            unit.commit()
            return IssuedLink(user, token)

        return self._tx.run(work)

    def _issue(
        self,
        unit: IdentityUnit,
        user: User,
        purpose: TokenPurpose,
        token: str,
        now: datetime,
        *,
        payload: str = "",
        recipient: str | None = None,
        **values: str,
    ) -> None:
        """Store a single-use token (earlier ones of the same purpose stop working) and
        mail its link."""
        lifetime = model.TOKEN_LIFETIMES[purpose]
        unit.repo.drop_tokens(user.id, purpose)
        unit.repo.add_token(
            model.token_hash(token), user.id, purpose, now + lifetime, now, payload=payload
        )
        paths = {
            TokenPurpose.VERIFY: ("verify", "/account/verify/"),
            TokenPurpose.RESET: ("reset", "/account/reset/"),
            TokenPurpose.INVITATION: ("invitation", "/account/invitation/"),
            TokenPurpose.EMAIL_CHANGE: ("email-change", "/account/email/"),
        }
        kind, path = paths[purpose]
        hours = max(1, int(lifetime.total_seconds() // 3600))
        unit.send(
            self._mailer.message(
                kind,
                recipient or user.email,
                user.language,
                name=user.name,
                link=self._mailer.link(path + token),
                hours=str(hours),
                **values,
            )
        )

    def resend_verification(self, email: str) -> IssuedLink | None:
        """A new verification link for a registered, unverified address (the old one
        stops working). The caller answers the same whatever happened."""
        try:
            address = model.parse_email(email)
        except ValidationError:
            return None
        token = model.new_token()

        def work(unit: IdentityUnit) -> IssuedLink | None:
            user = unit.repo.user_by_email(address)
            if user is None or user.verified or not user.has_password:
                return None
            if not self._may_mail(unit, address):
                return None
            self._issue(unit, user, TokenPurpose.VERIFY, token, self._clock.now())
            unit.commit()
            return IssuedLink(user, token)

        return self._tx.run(work)

    def _may_mail(self, unit: IdentityUnit, address: str) -> bool:
        """Count one unasked-for message to ``address``; False past the hourly cap (the
        caller then sends nothing and answers the same)."""
        now = self._clock.now()
        sent, _lock = unit.repo.count_failure(
            f"mail:{address}", now, now - model.FORGET_FAILURES_AFTER
        )
        return sent <= model.MAILS_PER_HOUR

    def _use(self, unit: IdentityUnit, token: str, purpose: TokenPurpose) -> User:
        """The token's person, the token marked used; ``token_invalid`` (forged or of
        another purpose), ``token_expired`` or ``token_used`` otherwise."""
        found = unit.repo.token(model.token_hash(token)) if len(token) <= 100 else None
        if found is None or found.purpose is not purpose:
            raise NotFound("this link is not valid", code="token_invalid")
        now = self._clock.now()
        if found.used_at is not None:
            raise Conflict("this link was already used", code="token_used")
        if now >= found.expires_at:
            raise Conflict("this link has expired", code="token_expired")
        user = unit.repo.user(found.user_id)
        if user is None or not unit.repo.use_token(model.token_hash(token), now):
            raise Conflict("this link was already used", code="token_used")
        return user

    def _peek(self, unit: IdentityUnit, token: str, purpose: TokenPurpose) -> User:
        """Like ``_use`` without using the token (to show its form)."""
        found = unit.repo.token(model.token_hash(token)) if len(token) <= 100 else None
        if found is None or found.purpose is not purpose:
            raise NotFound("this link is not valid", code="token_invalid")
        if found.used_at is not None:
            raise Conflict("this link was already used", code="token_used")
        if self._clock.now() >= found.expires_at:
            raise Conflict("this link has expired", code="token_expired")
        user = unit.repo.user(found.user_id)
        if user is None:
            raise NotFound("this link is not valid", code="token_invalid")
        return user

    def verify(self, token: str) -> User:
        """Confirm the email address of the link's person; a person who registered
        without a customer account gets a new one now, named after the company."""

        def work(unit: IdentityUnit) -> User:
            user = self._use(unit, token, TokenPurpose.VERIFY)
            now = self._clock.now()
            changes: dict[str, Any] = {"verified_at": now}
            if user.account_number is None and not user.staff:
                country = model.phone_country(user.phone) or DEFAULT_COUNTRY
                changes["account_number"] = unit.open_customer_account(
                    user.company, country, _currency(country)
                )
            elif user.account_number is not None and user.role == PortalRole.USER.value:
                # joined with a meter's serial: the account's owners and admins are told
                unit.send(
                    self._mailer.to_customer(
                        "joined",
                        user.account_number,
                        name=user.name,
                        email=user.email,
                        number=user.account_number,
                        link=self._mailer.link("/account/users"),
                    )
                )
            unit.repo.update_user(user.id, changes)
            unit.commit()
            fresh = unit.repo.user(user.id)
            assert fresh is not None
            return fresh

        return self._tx.run(work)

    # ------------------------------------------------------------ sign-in

    def sign_in(self, email: str, password: str, *, client: str) -> SignIn:
        """Sign a person in from ``client`` (its network address): a new session.

        An unknown email, a wrong password and an invited person who has not accepted
        all answer ``sign_in_failed`` after the same work. Failures in a row are counted
        per email and per client address; past a few, ``sign_in_locked`` for a while
        that doubles with each further failure up to ``model.LONGEST_LOCK``.
        """
        address = email.strip().lower()[: model.MAX_EMAIL]
        subjects = {
            f"email:{address}": model.ACCOUNT_FREE_FAILURES,
            f"address:{client[:100]}": model.ADDRESS_FREE_FAILURES,
        }
        self._throttle(subjects)

        def attempt(unit: IdentityUnit) -> tuple[User | None, str | None]:
            found_user = unit.repo.user_by_email(address)
            if found_user is None:
                return None, None
            return found_user, unit.repo.secrets_of(found_user.id)[0]

        user, password_hash = self._tx.run(attempt, readonly=True)
        # verified outside any transaction: argon2 takes tens of milliseconds
        if not model.secret_matches(password[: model.PASSWORD_MAX * 4], password_hash):
            raise Unauthenticated("unknown email or wrong password", code="sign_in_failed")
        assert user is not None
        assert password_hash is not None
        signed_in = user
        token = model.new_token()
        rehash = model.hash_secret(password) if model.needs_rehash(password_hash) else None

        def start(unit: IdentityUnit) -> None:
            unit.repo.clear_failures(f"email:{address}")
            self._forgive(unit, subjects)
            unit.repo.add_session(model.token_hash(token), signed_in.id, self._clock.now())
            if rehash is not None:
                unit.repo.update_user(signed_in.id, {"password_hash": rehash})
            unit.commit()

        self._tx.run(start)
        return SignIn(signed_in, token)

    def _throttle(self, subjects: dict[str, int]) -> None:
        """Count an attempt against each subject *before* it is checked (a success
        clears the email's count), refusing it while one of them is locked: parallel
        guesses wait for each other and each one counts."""

        def count(unit: IdentityUnit) -> datetime | None:
            now = self._clock.now()
            locked_until: datetime | None = None
            for subject, free in subjects.items():
                failures, lock = unit.repo.count_failure(
                    subject, now, now - model.FORGET_FAILURES_AFTER
                )
                if lock is not None and lock > now:
                    locked_until = max(lock, locked_until or lock)
                    continue
                earned = model.lock_after(failures, free)
                if earned is not None:
                    unit.repo.lock(subject, now + earned)
            unit.commit()
            return locked_until

        locked_until = self._tx.run(count)
        if locked_until is not None:
            wait = math.ceil((locked_until - self._clock.now()).total_seconds())
            raise Locked(
                f"too many failed attempts; try again in {wait} seconds",
                code="sign_in_locked",
                retry_after=wait,
            )

    @staticmethod
    def _forgive(unit: IdentityUnit, subjects: dict[str, int]) -> None:
        """A success takes back its own pre-counted failure from the client address's
        count (and the lock that one earned), without clearing the failures of others
        behind the same address: a busy office signing in is never held back, and a
        guesser gains nothing by signing in to an account of their own."""
        for subject, free in subjects.items():
            if subject.startswith("address:"):
                remaining = unit.repo.undo_failure(subject)
                if model.lock_after(remaining, free) is None:
                    unit.repo.unlock(subject)

    def session_user(self, token: str) -> User:
        """The person signed in with session ``token``; ``session_expired`` when there is
        none, or it was idle or open too long (it is then ended).

        Runs on every request: a read-only look-up, and a write only to end the session
        or to note its use (at most once a minute), so requests do not queue for
        SQLite's write lock."""
        if len(token) > 100:
            raise Unauthenticated("your session has ended; sign in again", code="session_expired")
        id_hash = model.token_hash(token)
        now = self._clock.now()

        pair = self._tx.run(lambda unit: unit.repo.session_with_user(id_hash), readonly=True)
        if pair is None:
            raise Unauthenticated("your session has ended; sign in again", code="session_expired")
        found, user = pair
        if self.session_rules.expired(found.started_at, found.last_seen, now):
            self.sign_out(token)
            raise Unauthenticated("your session has ended; sign in again", code="session_expired")
        if now - found.last_seen >= model.SESSION_TOUCH_EVERY:

            def touch(unit: IdentityUnit) -> None:
                unit.repo.touch_session(id_hash, now)
                unit.commit()

            self._tx.run(touch)
        return user

    def sign_out(self, token: str) -> None:
        """End the session on the server: its cookie no longer signs anyone in."""

        def work(unit: IdentityUnit) -> None:
            unit.repo.end_session(model.token_hash(token))
            unit.commit()

        self._tx.run(work)

    # ------------------------------------------------------------ password reset

    def request_reset(self, email: str) -> IssuedLink | None:
        """Mail a reset link to a registered address; the caller answers the same
        whatever happened."""
        try:
            address = model.parse_email(email)
        except ValidationError:
            return None
        token = model.new_token()

        def work(unit: IdentityUnit) -> IssuedLink | None:
            user = unit.repo.user_by_email(address)
            if user is None or not user.has_password or not self._may_mail(unit, address):
                return None
            self._issue(unit, user, TokenPurpose.RESET, token, self._clock.now())
            unit.commit()
            return IssuedLink(user, token)

        return self._tx.run(work)

    def reset_question(self, token: str) -> str:
        """The security question of the reset link's person (the link stays unused)."""
        return self._tx.run(
            lambda unit: self._peek(unit, token, TokenPurpose.RESET).security_question,
            readonly=True,
        )

    def reset_password(self, token: str, answer: str, password: str, *, client: str) -> User:
        """Set a new password with the reset link and the security answer. A wrong
        answer is a failed sign-in attempt for the throttle (the link stays usable);
        a reset ends every session of the person."""
        check = FormCheck()
        check.parse("password", model.check_password, password)
        check.done()
        user = self._tx.run(lambda unit: self._peek(unit, token, TokenPurpose.RESET), readonly=True)
        subjects = {
            f"email:{user.email}": model.ACCOUNT_FREE_FAILURES,
            f"address:{client[:100]}": model.ADDRESS_FREE_FAILURES,
        }
        self._throttle(subjects)
        answer_hash = self._tx.run(lambda unit: unit.repo.secrets_of(user.id)[1], readonly=True)
        if not model.secret_matches(
            model.normalise_answer(answer)[: model.MAX_ANSWER], answer_hash
        ):
            check.add(
                "security_answer",
                model.invalid("security_answer", "wrong_answer", "this is not the answer given"),
            )
            check.done()
        password_hash = model.hash_secret(password)

        def work(unit: IdentityUnit) -> User:
            person = self._use(unit, token, TokenPurpose.RESET)
            unit.repo.update_user(person.id, {"password_hash": password_hash})
            unit.repo.end_sessions_of(person.id)
            unit.repo.clear_failures(f"email:{person.email}")
            self._forgive(unit, subjects)
            unit.send(
                self._mailer.message(
                    "password-changed", person.email, person.language, name=person.name
                )
            )
            unit.commit()
            return person

        return self._tx.run(work)

    # ------------------------------------------------------------ profile

    def user(self, user_id: int) -> User:
        found = self._tx.run(lambda unit: unit.repo.user(user_id), readonly=True)
        if found is None:
            raise NotFound(f"no user {user_id}", code="user_not_found")
        return found

    def update_profile(
        self, user_id: int, *, name: str, phone: str, language: str, time_zone: str = ""
    ) -> User:
        """Name, phone, language and time zone ("" keeps the one shown until now)."""
        check = FormCheck()
        clean_language = check.parse("language", model.parse_language, language)
        clean_name = check.parse("name", model.parse_name, name)
        region = PHONE_REGION.get(clean_language or "en", "US")
        clean_phone = check.parse("phone", model.parse_phone, phone, region)
        changes = {"name": clean_name, "phone": clean_phone, "language": clean_language}
        if time_zone:
            changes["time_zone"] = check.parse("time_zone", parse_time_zone, time_zone)
        check.done()

        def work(unit: IdentityUnit) -> User:
            unit.repo.update_user(user_id, changes)
            unit.commit()
            found = unit.repo.user(user_id)
            if found is None:
                raise NotFound(f"no user {user_id}", code="user_not_found")
            return found

        return self._tx.run(work)

    def _check_current(self, user_id: int, current_password: str, check: FormCheck) -> User:
        def read(unit: IdentityUnit) -> tuple[User | None, str | None]:
            return unit.repo.user(user_id), unit.repo.secrets_of(user_id)[0]

        user, password_hash = self._tx.run(read, readonly=True)
        if user is None:
            raise NotFound(f"no user {user_id}", code="user_not_found")
        if not model.secret_matches(current_password[: model.PASSWORD_MAX * 4], password_hash):
            check.add(
                "current_password",
                model.invalid("current_password", "wrong_password", "this is not your password"),
            )
        return user

    def change_password(
        self, user_id: int, current_password: str, new_password: str, *, keep_session: str
    ) -> User:
        """A new password, given the current one; every other session ends and the
        address is told."""
        check = FormCheck()
        check.parse("new_password", model.check_password, new_password, "new_password")
        user = self._check_current(user_id, current_password, check)
        check.done()
        password_hash = model.hash_secret(new_password)

        def work(unit: IdentityUnit) -> User:
            unit.repo.update_user(user.id, {"password_hash": password_hash})
            unit.repo.end_sessions_of(user.id, keep=model.token_hash(keep_session))
            unit.send(
                self._mailer.message("password-changed", user.email, user.language, name=user.name)
            )
            unit.commit()
            return user

        return self._tx.run(work)

    def change_security_question(
        self, user_id: int, current_password: str, question: str, answer: str
    ) -> User:
        check = FormCheck()
        clean_question = check.parse("security_question", model.parse_question, question)
        clean_answer = check.parse("security_answer", model.parse_answer, answer)
        user = self._check_current(user_id, current_password, check)
        check.done()
        answer_hash = model.hash_secret(clean_answer)

        def work(unit: IdentityUnit) -> User:
            unit.repo.update_user(
                user.id,
                {"security_question": clean_question, "security_answer_hash": answer_hash},
            )
            unit.commit()
            return user

        return self._tx.run(work)

    def change_email(self, user_id: int, current_password: str, new_email: str) -> IssuedLink:
        """Ask to sign in with ``new_email`` from now on: a confirmation link goes to the
        new address; the change happens when it is opened (``confirm_email``)."""
        check = FormCheck()
        address = check.parse("new_email", model.parse_email, new_email)
        user = self._check_current(user_id, current_password, check)
        check.done()
        token = model.new_token()

        def work(unit: IdentityUnit) -> IssuedLink:
            if unit.repo.user_by_email(address) is not None:
                # no hint whether it is someone else's: the same page, and no change
                return IssuedLink(user, "")
            self._issue(
                unit,
                user,
                TokenPurpose.EMAIL_CHANGE,
                token,
                self._clock.now(),
                payload=address,
                recipient=address,
            )
            unit.commit()
            return IssuedLink(user, token)

        return self._tx.run(work)

    def confirm_email(self, token: str) -> User:
        """Make the address of an email-change link the person's login; the old
        address is told."""

        def work(unit: IdentityUnit) -> User:
            found = unit.repo.token(model.token_hash(token)) if len(token) <= 100 else None
            user = self._use(unit, token, TokenPurpose.EMAIL_CHANGE)
            assert found is not None
            if unit.repo.user_by_email(found.payload) is not None:
                raise Conflict("this address is already in use", code="email_taken")
            unit.repo.update_user(user.id, {"email": found.payload})
            unit.send(
                self._mailer.message(
                    "email-changed", user.email, user.language, name=user.name, new=found.payload
                )
            )
            unit.commit()
            fresh = unit.repo.user(user.id)
            assert fresh is not None
            return fresh

        return self._tx.run(work)

    # ------------------------------------------------------------ people and roles

    def users(self, account_number: str) -> builtins.list[User]:
        """The portal users of a customer account, invited ones included."""
        return self._tx.run(lambda unit: unit.repo.users_of(account_number), readonly=True)

    def staff(self) -> builtins.list[User]:
        return self._tx.run(lambda unit: unit.repo.staff(), readonly=True)

    def by_email(self, email: str) -> User:
        address = model.parse_email(email)
        found = self._tx.run(lambda unit: unit.repo.user_by_email(address), readonly=True)
        if found is None:
            raise NotFound(f"no user {address}", code="user_not_found")
        return found

    def by_email_in(self, connection: Any, email: str) -> User | None:
        """The user with the address ``email`` (None if none), read on the caller's
        transaction ``connection``: the email channel reads its senders in the
        transaction that keeps their emails."""
        return self._tx.reading(connection).user_by_email(model.parse_email(email))

    def by_emails_in(self, connection: Any, emails: Sequence[str]) -> dict[str, User]:
        """``by_email_in`` of each of ``emails`` in one read: the user of each address
        that has one (keyed by the address as given); an address that is not one is
        left out, as is an address of nobody."""
        parsed: dict[str, str] = {}
        for email in emails:
            try:
                parsed[email] = model.parse_email(email)
            except ValidationError:
                continue
        found = {
            user.email: user
            for user in self._tx.reading(connection).users_by_email(sorted(set(parsed.values())))
        }
        return {email: found[clean] for email, clean in parsed.items() if clean in found}

    def invite(
        self,
        account_number: str,
        email: str,
        role: str,
        *,
        by: User | None = None,
        language: str | None = None,
    ) -> IssuedLink:
        """Invite a colleague into the customer account (``by``: the portal user who
        invites, None for an admin on the CLI): a single-use link lets them choose
        their password. An owner invites any role, an admin users and admins.

        The invitation is written in ``language``, by default the inviter's: the
        invited person has not chosen one yet, and keeps it until they do."""
        check = FormCheck()
        address = check.parse("email", model.parse_email, email)
        clean_role = check.parse("role", model.parse_portal_role, role)
        chosen = language or (by.language if by is not None else "en")
        clean_language = check.parse("language", model.parse_language, chosen)
        check.done()
        self._require_manager(account_number, by, clean_role)
        if not self._customers.exists(account_number):
            raise NotFound(f"no customer account {account_number}", code="account_not_found")
        inviter = by.name if by is not None else "postroom"
        return self._invite(address, clean_role.value, account_number, inviter, clean_language)

    def invite_staff(self, email: str, role: str, *, language: str = "en") -> IssuedLink:
        """Invite a member of staff (agent, supervisor, account manager, admin); CLI only."""
        check = FormCheck()
        address = check.parse("email", model.parse_email, email)
        clean_role = check.parse("role", model.parse_staff_role, role)
        clean_language = check.parse("language", model.parse_language, language)
        check.done()
        return self._invite(address, clean_role.value, None, "postroom", clean_language)

    def _invite(
        self, address: str, role: str, account_number: str | None, inviter: str, language: str
    ) -> IssuedLink:
        token = model.new_token()
        now = self._clock.now()

        def work(unit: IdentityUnit) -> IssuedLink:
            if unit.repo.user_by_email(address) is not None:
                raise Conflict(f"{address} already has a postroom login", code="email_taken")
            user = unit.repo.add_user(
                {
                    "email": address,
                    "name": "",
                    "company": "",
                    "phone": "",
                    "language": language,
                    "account_number": account_number,
                    "staff": account_number is None,
                    "role": role,
                    "password_hash": None,
                    "security_question": "",
                    "security_answer_hash": None,
                    "verified_at": None,
                    "created_at": now,
                }
            )
            where = account_number or "staff"
            self._issue(
                unit,
                user,
                TokenPurpose.INVITATION,
                token,
                now,
                inviter=inviter,
                where=where,
                role=self._mailer.role_name(role, user.language),
            )
            unit.commit()
            return IssuedLink(user, token)

        return self._tx.run(work)

    def invitation(self, token: str) -> User:
        """The invited person of a link (the link stays unused)."""
        return self._tx.run(
            lambda unit: self._peek(unit, token, TokenPurpose.INVITATION), readonly=True
        )

    def accept_invitation(
        self,
        token: str,
        *,
        name: str,
        password: str,
        security_question: str,
        security_answer: str,
        phone: str,
        language: str,
    ) -> User:
        """Accept an invitation: the person's name, phone, password and security question;
        the address is verified by the link itself."""
        check = FormCheck()
        clean_language = language if language in model.LANGUAGES else "en"
        clean_name = check.parse("name", model.parse_name, name)
        check.parse("password", model.check_password, password)
        question = check.parse("security_question", model.parse_question, security_question)
        answer = check.parse("security_answer", model.parse_answer, security_answer)
        clean_phone = check.parse("phone", model.parse_phone, phone, PHONE_REGION[clean_language])
        check.done()
        self.invitation(token)
        password_hash = model.hash_secret(password)
        answer_hash = model.hash_secret(answer)

        def work(unit: IdentityUnit) -> User:
            user = self._use(unit, token, TokenPurpose.INVITATION)
            unit.repo.update_user(
                user.id,
                {
                    "name": clean_name,
                    "phone": clean_phone,
                    "language": clean_language,
                    "password_hash": password_hash,
                    "security_question": question,
                    "security_answer_hash": answer_hash,
                    "verified_at": self._clock.now(),
                },
            )
            unit.commit()
            fresh = unit.repo.user(user.id)
            assert fresh is not None
            return fresh

        return self._tx.run(work)

    def _require_manager(
        self, account_number: str, by: User | None, role: PortalRole | None
    ) -> None:
        if by is None:
            return
        if by.account_number != account_number or not model.may_manage(by.role):
            raise NotFound("no such page", code="not_found")
        if role is not None and not model.may_grant(by.role, role):
            raise PermissionDenied("only an owner gives the owner role", code="owner_role_reserved")

    def _member(self, unit: IdentityUnit, account_number: str | None, user_id: int) -> User:
        user = unit.repo.user(user_id)
        if (
            user is None
            or user.account_number != account_number
            or (account_number is None and not user.staff)
        ):
            raise NotFound(f"no user {user_id}", code="user_not_found")
        return user

    def set_role(
        self, account_number: str | None, user_id: int, role: str, *, by: User | None = None
    ) -> User:
        """Change a person's role. Portal: an owner changes any role, an admin those of
        users and admins; the last owner keeps the role. Staff (``account_number`` None):
        CLI only."""
        if account_number is None:
            clean: PortalRole | StaffRole = model.parse_staff_role(role)
        else:
            clean = model.parse_portal_role(role)
            self._require_manager(account_number, by, clean)

        def work(unit: IdentityUnit) -> User:
            user = self._member(unit, account_number, user_id)
            if account_number is not None:
                self._guard_owner(unit, account_number, user, by)
                if clean is not PortalRole.OWNER:
                    self._keep_an_owner(unit, account_number, user)
            unit.repo.update_user(user.id, {"role": clean.value})
            unit.commit()
            fresh = unit.repo.user(user.id)
            assert fresh is not None
            return fresh

        return self._tx.run(work)

    def remove(self, account_number: str | None, user_id: int, *, by: User | None = None) -> User:
        """Remove a person: their sessions and links end at once. The last owner of an
        account cannot be removed."""
        if account_number is not None:
            self._require_manager(account_number, by, None)

        def work(unit: IdentityUnit) -> User:
            user = self._member(unit, account_number, user_id)
            if account_number is not None:
                self._guard_owner(unit, account_number, user, by)
                self._keep_an_owner(unit, account_number, user)
            unit.repo.delete_user(user.id)
            unit.commit()
            return user

        return self._tx.run(work)

    @staticmethod
    def _guard_owner(unit: IdentityUnit, account_number: str, user: User, by: User | None) -> None:
        if (
            by is not None
            and user.role == PortalRole.OWNER.value
            and by.role != PortalRole.OWNER.value
        ):
            raise PermissionDenied("only an owner changes an owner", code="owner_role_reserved")

    @staticmethod
    def _keep_an_owner(unit: IdentityUnit, account_number: str, user: User) -> None:
        """Refuse to take an active owner away when they are the account's last one."""
        if user.role != PortalRole.OWNER.value or not user.has_password:
            return
        owners = [
            u
            for u in unit.repo.users_of(account_number)
            if u.role == PortalRole.OWNER.value and u.has_password and u.id != user.id
        ]
        if not owners:
            raise Conflict(
                "an account keeps at least one owner: make someone else owner first",
                code="last_owner",
            )

    # ------------------------------------------------------------ address book

    def addresses(self, customer_number: str) -> builtins.list[Addressee]:
        """Who reads a customer account's email (the outbox's ``AddressBook``): its
        verified owners and admins, each in their language."""
        people = self._tx.run(lambda unit: unit.repo.users_of(customer_number), readonly=True)
        return [
            Addressee(email=p.email, name=p.name, language=p.language)
            for p in people
            if p.verified and p.has_password and model.may_manage(p.role)
        ]

    # ------------------------------------------------------------ housekeeping

    def purge_unverified(self) -> int:
        """Delete the people who registered (or were invited) and did not verify within
        30 days; they register again. Running it twice deletes nothing the second time."""
        cutoff = self._clock.now() - model.UNVERIFIED_KEPT

        def work(unit: IdentityUnit) -> int:
            stale = unit.repo.unverified_since(cutoff)
            for user in stale:
                unit.repo.delete_user(user.id)
            unit.commit()
            return len(stale)

        return self._tx.run(work)

    def forget_old_failures(self) -> int:
        """Delete the throttle's counts that are past forgetting (a day old)."""
        before = self._clock.now() - timedelta(days=1)

        def work(unit: IdentityUnit) -> int:
            forgotten = unit.repo.forget_failures(before)
            unit.commit()
            return forgotten

        return self._tx.run(work)
