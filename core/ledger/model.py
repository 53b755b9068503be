"""The vault's values and pure rules: accounts, balances, transfers, the hash chain,
meter registers. No I/O here; service.py runs these rules inside one transaction.

Sign convention (TigerBeetle's): a transfer *debits* one account and *credits* another.
Funds accounts (a customer's postage account, a meter) are credit-normal: their balance
is ``credits_posted - debits_posted``, and they carry ``debits_must_not_exceed_credits``
so that they never go below zero (or below their credit limit).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import attrs

from postroom.core.clock import iso_utc, utc
from postroom.core.errors import (
    ConfigurationError,
    Conflict,
    InsufficientFunds,
    NotFound,
    PostroomError,
    ValidationError,
)
from postroom.core.idempotency import KEY_PATTERN, canonical_json, fingerprint
from postroom.core.text import check_no_control

GENESIS_HASH = "0" * 64
#: The largest amount one transfer may carry (a signed 64-bit column holds every sum).
MAX_AMOUNT = 10**15


class Amount(Protocol):
    """What the vault needs of a Money: integer mills and an ISO 4217 code."""

    @property
    def mills(self) -> int: ...

    @property
    def currency(self) -> str: ...


class LedgerInvariantBroken(PostroomError):
    """A rule the ledger must never break was about to break; the transaction is undone."""

    code = "ledger_invariant_broken"
    http_status = 500


class AccountKind(StrEnum):
    POSTAGE = "postage"  # a customer's postage account (funds)
    METER = "meter"  # a meter's descending register (funds in the meter)
    POSTAGE_USED = "postage_used"  # postage printed, per postal operator
    REFUNDS = "refunds"
    FEES = "fees"
    PAYMENT_CLEARING = "payment_clearing"  # money arriving from payment sources
    CREDIT_LINE = "credit_line"  # the postage line of credit
    SALES = "sales"  # what customers paid the data center for supplies and add-ons
    INVOICE_RECEIPTS = "invoice_receipts"  # invoices paid (leases, supplies...): not postage


#: Kinds whose balance is money held for a customer: never below zero / the credit limit.
FUNDS_KINDS = frozenset({AccountKind.POSTAGE, AccountKind.METER})


class Phase(StrEnum):
    POSTED = "posted"  # moved at once
    PENDING = "pending"  # reserved; later posted, voided or expired
    POST = "post_pending"  # posts (part of) a pending transfer, releasing the rest
    VOID = "void_pending"  # releases a pending transfer
    EXPIRE = "expire_pending"  # releases a pending transfer whose timeout passed


RESOLVING_PHASES = frozenset({Phase.POST, Phase.VOID, Phase.EXPIRE})


class TransferCode(StrEnum):
    """What a transfer is for (the report types)."""

    DEPOSIT = "deposit"
    REFILL = "refill"
    USAGE = "usage"
    PRINT = "print"
    REFUND = "refund"
    FEE = "fee"
    ADJUSTMENT = "adjustment"
    TRANSFER = "transfer"
    WITHDRAWAL = "withdrawal"  # a meter's remaining funds leaving it (withdrawn or replaced)
    REFILL_CANCEL = "refill_cancel"  # an expired, unapplied refill returned to postage


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else _utc_stamp(moment)


@functools.lru_cache(maxsize=256)
def _utc_stamp(moment: datetime) -> str:
    # cached: the rows of one batch share their creation time
    return iso_utc(moment)


def check_amount(mills: object, *, field: str = "amount") -> int:
    if isinstance(mills, bool) or not isinstance(mills, int):
        raise ValidationError(
            f"{field} must be an integer number of mills, not {type(mills).__name__}",
            code="invalid_amount",
        )
    if mills <= 0:
        raise ValidationError(f"{field} must be positive", code="invalid_amount", mills=mills)
    if mills > MAX_AMOUNT:
        raise ValidationError(f"{field} is too large", code="invalid_amount", mills=mills)
    return mills


def check_transfer_id(value: object) -> str:
    if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value):
        raise ValidationError(
            "a transfer id is 1 to 64 letters, digits or ._:@/- and starts with a letter or digit",
            code="invalid_transfer_id",
        )
    return value


#: The longest id a customer may choose: its ledger id is the customer's number, "/" and
#: the id (``customer_transfer_id``), which must fit the ledger's 64 characters.
CLIENT_ID_MAX = 53


def customer_transfer_id(customer_number: str, client_id: object) -> str:
    """The ledger id of the transfer a customer names ``client_id``. Ids are the customer's
    own: two customers may choose one id, and neither learns that the other did."""
    if isinstance(client_id, str) and len(client_id) > CLIENT_ID_MAX:
        raise ValidationError(
            f"a transfer id is 1 to {CLIENT_ID_MAX} letters, digits or ._:@/- and starts "
            "with a letter or digit",
            code="invalid_transfer_id",
        )
    return check_transfer_id(f"{customer_number}/{check_transfer_id(client_id)}")


def client_transfer_id(customer_number: str, ledger_id: str) -> str:
    """The id a customer knows a ledger transfer by (``customer_transfer_id`` undone)."""
    prefix = f"{customer_number}/"
    return ledger_id.removeprefix(prefix)


def check_cost_center(value: object) -> str:
    """A department's name for postage accounting: 1 to 60 printable characters."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 60
        or value != value.strip()
        or not value.isprintable()
    ):
        raise ValidationError(
            "a cost centre is 1 to 60 printable characters without surrounding spaces",
            code="invalid_cost_center",
        )
    return value


@attrs.frozen
class Balances:
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def __add__(self, other: Balances) -> Balances:
        return Balances(
            self.debits_pending + other.debits_pending,
            self.debits_posted + other.debits_posted,
            self.credits_pending + other.credits_pending,
            self.credits_posted + other.credits_posted,
        )

    def debited(self, amount: int) -> Balances:
        """These balances with ``amount`` more posted on the debit side (a posted
        transfer's debit account; ``effects`` without building the delta)."""
        return Balances(
            self.debits_pending,
            self.debits_posted + amount,
            self.credits_pending,
            self.credits_posted,
        )

    def credited(self, amount: int) -> Balances:
        """These balances with ``amount`` more posted on the credit side."""
        return Balances(
            self.debits_pending,
            self.debits_posted,
            self.credits_pending,
            self.credits_posted + amount,
        )

    @property
    def balance(self) -> int:
        """Posted balance of a credit-normal account."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What may still be debited before the credit limit: posted balance less reservations."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@attrs.define
class LedgerAccount:
    id: int
    code: str
    kind: AccountKind
    currency: str
    owner_id: int | None
    credit_limit: int
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    balances: Balances
    created_at: datetime

    def violation(self, balances: Balances) -> str | None:
        """Why ``balances`` would break this account's rules, or None when they hold."""
        if self.debits_must_not_exceed_credits and (
            balances.debits_pending + balances.debits_posted
            > balances.credits_posted + self.credit_limit
        ):
            return "exceeds_credits"
        if self.credits_must_not_exceed_debits and (
            balances.credits_pending + balances.credits_posted > balances.debits_posted
        ):
            return "exceeds_debits"
        if (
            min(
                balances.debits_pending,
                balances.debits_posted,
                balances.credits_pending,
                balances.credits_posted,
            )
            < 0
        ):
            return "negative_register"
        return None


@attrs.frozen
class TransferRequest:
    """One transfer as a client asks for it. ``debit``/``credit`` are account ids or codes.

    For ``Phase.POST``/``VOID`` give ``pending_id`` (the accounts and currency come from
    the pending transfer); ``amount`` of a POST may be smaller than the reservation
    (the rest is released) or None for all of it.
    """

    id: str
    debit: int | str | None = None
    credit: int | str | None = None
    amount: int | None = None
    currency: str | None = None
    phase: Phase = Phase.POSTED
    code: TransferCode = TransferCode.TRANSFER
    pending_id: str | None = None
    timeout_seconds: int | None = None
    pieces: int = 0
    reference: str = ""
    cost_center: str | None = None

    def validate(self) -> None:
        check_transfer_id(self.id)
        if self.phase in (Phase.POSTED, Phase.PENDING):
            if self.debit is None or self.credit is None or self.currency is None:
                raise ValidationError(
                    "a transfer needs a debit account, a credit account and a currency",
                    code="invalid_transfer",
                )
            check_amount(self.amount)
            if self.debit == self.credit:
                raise ValidationError("debit and credit account are the same", code="same_account")
            if self.pending_id is not None:
                raise ValidationError(
                    "pending_id belongs to post and void only", code="invalid_transfer"
                )
        elif self.phase in (Phase.POST, Phase.VOID):
            if self.pending_id is None:
                raise ValidationError(
                    f"{self.phase.value} needs the pending transfer's id", code="invalid_transfer"
                )
            check_transfer_id(self.pending_id)
            if self.amount is not None:
                if self.phase is Phase.VOID:
                    raise ValidationError("a void takes no amount", code="invalid_transfer")
                check_amount(self.amount)
        else:
            raise ValidationError(
                "expiry is the worker's job, not a request", code="invalid_transfer"
            )
        if self.timeout_seconds is not None and (
            self.phase is not Phase.PENDING
            or isinstance(self.timeout_seconds, bool)
            or not isinstance(self.timeout_seconds, int)
            or self.timeout_seconds <= 0
        ):
            raise ValidationError(
                "timeout_seconds is a positive integer, for pending transfers only",
                code="invalid_timeout",
            )
        if isinstance(self.pieces, bool) or not isinstance(self.pieces, int) or self.pieces < 0:
            raise ValidationError("pieces must be a whole number >= 0", code="invalid_pieces")
        if len(self.reference) > 200:
            raise ValidationError("reference is at most 200 characters", code="invalid_reference")
        check_no_control(self.reference, "reference")
        if self.cost_center is not None:
            check_cost_center(self.cost_center)

    def fingerprint(self) -> str:
        """The request's body, hashed (``idempotency.fingerprint``): the same id must
        come back with the same body."""
        return fingerprint(self.body())

    def body(self) -> tuple[object, ...]:
        """What ``fingerprint`` hashes: everything but the id (the pieces of a mail run
        share one body, so a batch hashes each distinct body once)."""
        body = [
            self.debit,
            self.credit,
            self.amount,
            self.currency,
            PHASE_TEXT[self.phase],
            CODE_TEXT[self.code],
            self.pending_id,
            self.timeout_seconds,
            self.pieces,
            self.reference,
        ]
        if self.cost_center is not None:
            # Appended only when set, so the bodies of older requests hash as they did.
            body.append(self.cost_center)
        return tuple(body)


@attrs.frozen
class Transfer:
    """One immutable ledger row."""

    seq: int
    id: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    phase: Phase
    code: TransferCode
    pending_id: str | None
    timeout_at: datetime | None
    batch: str | None
    pieces: int
    reference: str
    body_hash: str
    created_at: datetime
    prev_hash: str
    row_hash: str
    cost_center: str | None = None
    #: Not part of the row: True when this answer is the first result of an earlier
    #: request with the same id (frontends answer 200 instead of 201).
    replayed: bool = attrs.field(default=False, eq=False, repr=False)

    HASHED: ClassVar[tuple[str, ...]] = (
        "seq",
        "id",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "currency",
        "phase",
        "code",
        "pending_id",
        "timeout_at",
        "batch",
        "pieces",
        "reference",
        "body_hash",
        "created_at",
    )

    def canonical(self) -> bytes:
        """The hashed content: canonical JSON of ``HASHED`` (and the cost centre when set)."""
        return b"[%d,%s" % (self.seq, self.canonical_tail())

    def canonical_tail(self) -> bytes:
        """``canonical()`` after its opening ``[``, the seq and the comma that follows it.

        The seq is the only hashed value a row gets when it joins the chain, so a store
        that assigns it (PostgreSQL, in the statement that appends the row) completes the
        hash from this: HMAC-SHA256(key, prev_hash + "\n[" + seq + "," + tail).
        """
        values: list[object] = [
            self.id,
            self.debit_account_id,
            self.credit_account_id,
            self.amount,
            self.currency,
            PHASE_TEXT[self.phase],
            CODE_TEXT[self.code],
            self.pending_id,
            _stamp(self.timeout_at),
            self.batch,
            self.pieces,
            self.reference,
            self.body_hash,
            _stamp(self.created_at),
        ]
        if self.cost_center is not None:
            # Sealed only when set: rows written before cost centres existed verify unchanged.
            values.append(self.cost_center)
        return canonical_json(values)[1:]

    def computed_hash(self, key: ChainKey | None, prev_hash: str | None = None) -> str:
        """This row's hash: keyed under ``key``, or the unkeyed one of rows written before
        the seal (``key`` None)."""
        prev = self.prev_hash if prev_hash is None else prev_hash
        if key is None:
            return chain_hash(prev, self.seq, self.canonical_tail())
        return key.row_hash(prev, self.seq, self.canonical_tail())

    def sealed(
        self, key: ChainKey, seq: int, prev_hash: str, tail: bytes | None = None
    ) -> Transfer:
        """This row as the chain's row ``seq`` after ``prev_hash``, hashed under ``key``
        (``tail``: its ``canonical_tail()``, when the caller has it already)."""
        if tail is None:
            tail = self.canonical_tail()
        return self.with_place(seq, prev_hash, key.row_hash(prev_hash, seq, tail))

    def with_place(self, seq: int, prev_hash: str, row_hash: str) -> Transfer:
        """This row with its place in the chain (``attrs.evolve``, without its cost)."""
        return Transfer(
            seq,
            self.id,
            self.debit_account_id,
            self.credit_account_id,
            self.amount,
            self.currency,
            self.phase,
            self.code,
            self.pending_id,
            self.timeout_at,
            self.batch,
            self.pieces,
            self.reference,
            self.body_hash,
            self.created_at,
            prev_hash,
            row_hash,
            self.cost_center,
        )


# An enum member's value through a dict: ``.value`` is a descriptor call, paid per piece.
PHASE_TEXT = {phase: phase.value for phase in Phase}
CODE_TEXT = {code: code.value for code in TransferCode}


def chain_hash(prev_hash: str, seq: int, tail: bytes) -> str:
    """A row's hash as written before the chain was keyed (rows up to the seal):
    sha256(prev_hash + "\n" + canonical JSON of the row), the canonical JSON written as
    ``[seq,`` + the row's ``canonical_tail()``. Anyone can compute it: verify trusts such
    rows only because the keyed seal covers the last of them."""
    return hashlib.sha256(b"%s\n[%d,%s" % (prev_hash.encode("ascii"), seq, tail)).hexdigest()


#: HMAC-SHA256's block size: a key is padded to it (RFC 2104).
_HMAC_BLOCK = 64
#: Key derivation labels: the row hashes and the checkpoints never share a key.
_CHAIN_LABEL = b"postroom ledger chain v1"
_CHECKPOINT_LABEL = b"postroom ledger checkpoint v1"
_SEAL_LABEL = b"postroom ledger seal\n"
#: Shortest ledger key accepted (characters): a guessable key is no key.
MIN_LEDGER_KEY = 32


@attrs.frozen
class ChainKey:
    """The ledger key: every row after the seal is hashed with HMAC-SHA256 under it, so
    whoever can write the database but does not hold the key cannot recompute the chain.

    ``secret`` is derived from the configured key per purpose (chain, checkpoints). The
    key itself lives outside the database (environment or data directory).
    """

    secret: bytes = attrs.field(repr=False)
    checkpoint_secret: bytes = attrs.field(repr=False)
    #: (key XOR ipad, key XOR opad): HMAC = sha256(opad + sha256(ipad + message)), for a
    #: store that completes the hash in SQL with plain sha256 (RFC 2104).
    pads: tuple[bytes, bytes] = attrs.field(init=False, repr=False, eq=False)
    # sha256 after each pad: a row's HMAC copies them (hmac.digest sets a key up per
    # call, four times plain sha256's cost, paid per piece of a mail run).
    _inner: Any = attrs.field(init=False, repr=False, eq=False)
    _outer: Any = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        padded = self.secret.ljust(_HMAC_BLOCK, b"\0")
        pads = (bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded))
        object.__setattr__(self, "pads", pads)
        object.__setattr__(self, "_inner", hashlib.sha256(pads[0]))
        object.__setattr__(self, "_outer", hashlib.sha256(pads[1]))

    @classmethod
    def from_text(cls, text: str) -> ChainKey:
        key = text.strip().encode("utf-8")
        if len(key) < MIN_LEDGER_KEY:
            raise ConfigurationError(
                f"POSTROOM_LEDGER_KEY must be at least {MIN_LEDGER_KEY} characters",
                code="ledger_key_too_short",
            )
        return cls(
            hmac.digest(key, _CHAIN_LABEL, "sha256"),
            hmac.digest(key, _CHECKPOINT_LABEL, "sha256"),
        )

    def row_hash(self, prev_hash: str, seq: int, tail: bytes) -> str:
        """A row's keyed hash: HMAC-SHA256(key, prev_hash + "\n[" + seq + "," + tail),
        the same message ``chain_hash`` hashes. Every write path calls this (or, on
        PostgreSQL, completes the same HMAC in SQL from ``pads``)."""
        inner = self._inner.copy()
        inner.update(b"%s\n[%d,%s" % (prev_hash.encode("ascii"), seq, tail))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()  # type: ignore[no-any-return]

    def seal(self, seq: int, row_hash: str) -> str:
        """The seal over the last row hashed the old way: its seq and its hash."""
        return hmac.digest(
            self.secret, _SEAL_LABEL + b"%d\n%s" % (seq, row_hash.encode("ascii")), "sha256"
        ).hex()

    def checkpoint(self, seq: int, row_hash: str) -> str:
        """The signature of a checkpoint of the chain head (kept outside the database)."""
        return hmac.digest(
            self.checkpoint_secret, b"%d\n%s" % (seq, row_hash.encode("ascii")), "sha256"
        ).hex()


@attrs.frozen
class ChainSeal:
    """Where the keyed chain begins: rows up to ``seq`` kept their unkeyed hashes and the
    last of them hashes to ``row_hash``; ``mac`` is ``ChainKey.seal`` over both, None
    while no one holding the key has sealed it (migration ``vault_0009_seal``)."""

    seq: int
    row_hash: str
    mac: str | None


@attrs.frozen
class Checkpoint:
    """A signed record of the chain head, kept outside the database: a later verify
    checks that the ledger still holds row ``seq`` with ``row_hash`` (a ledger cut
    short, or rewritten before that row, fails), under the same ledger key."""

    seq: int
    row_hash: str
    signature: str

    FORMAT: ClassVar[str] = "postroom-ledger-checkpoint/1"


def effects(transfer: Transfer, pending: Transfer | None) -> list[tuple[int, Balances]]:
    """How ``transfer`` changes the debit and credit account's balances."""
    a = transfer.amount
    if transfer.phase is Phase.POSTED:
        return [
            (transfer.debit_account_id, Balances(debits_posted=a)),
            (transfer.credit_account_id, Balances(credits_posted=a)),
        ]
    if transfer.phase is Phase.PENDING:
        return [
            (transfer.debit_account_id, Balances(debits_pending=a)),
            (transfer.credit_account_id, Balances(credits_pending=a)),
        ]
    if pending is None:
        raise LedgerInvariantBroken(f"transfer {transfer.id} resolves no pending transfer")
    reserved = pending.amount
    posted = a if transfer.phase is Phase.POST else 0
    return [
        (transfer.debit_account_id, Balances(debits_pending=-reserved, debits_posted=posted)),
        (transfer.credit_account_id, Balances(credits_pending=-reserved, credits_posted=posted)),
    ]


# ------------------------------------------------------------ the posting rules
# Every rule a transfer must keep, on values: the posting engine (posting.py) applies
# them to the locked rows, and the one-statement posted debit (store.py's SQL checks)
# is held equal to them by a property test on generated ledgers.


def check_pair(debit: LedgerAccount, credit: LedgerAccount, currency: str) -> None:
    """A new transfer's two accounts: distinct, and both kept in ``currency``."""
    if debit.id == credit.id:
        raise ValidationError("debit and credit account are the same", code="same_account")
    for account in (debit, credit):
        if account.currency != currency:
            raise currency_mismatch(currency, account.currency, account.code)


def is_expired(pending: Transfer, now: datetime) -> bool:
    """Whether the reservation ``pending`` has timed out at ``now``."""
    return pending.timeout_at is not None and pending.timeout_at <= now


def check_resolution(
    phase: Phase,
    pending: Transfer | None,
    pending_id: str | None,
    resolution: Transfer | None,
    *,
    amount: int | None,
    currency: str | None,
    now: datetime,
) -> tuple[Transfer, int]:
    """``pending`` and the amount its post, void or expiry (``phase``) moves, checked:
    ``pending`` open (``resolution``: its earlier post, void or expiry, if any), timed
    out for an expiry and not for the others, in its currency, posted no more than
    reserved."""
    if pending is None:
        raise NotFound(f"no pending transfer {pending_id}", code="pending_transfer_not_found")
    if pending.phase is not Phase.PENDING:
        raise ValidationError(f"transfer {pending.id} is not pending", code="not_pending")
    if resolution is not None:
        how = resolution.phase.value
        raise Conflict(
            f"pending transfer {pending.id} is already resolved ({how})",
            code="pending_transfer_resolved",
            resolution=how,
        )
    if phase is Phase.EXPIRE:
        if not is_expired(pending, now):
            raise Conflict(
                f"pending transfer {pending.id} has not timed out", code="pending_not_expired"
            )
    elif is_expired(pending, now):
        raise Conflict(f"pending transfer {pending.id} expired", code="pending_transfer_expired")
    if currency is not None and currency.upper() != pending.currency:
        raise currency_mismatch(currency, pending.currency)
    if phase is Phase.POST and amount is not None:
        if amount > pending.amount:
            raise ValidationError(
                f"cannot post {amount} of a {pending.amount} reservation",
                code="exceeds_pending_amount",
            )
        return pending, amount
    return pending, pending.amount


def check_balances(
    account: LedgerAccount, before: Balances, after: Balances, transfer_id: str, amount: int
) -> Balances:
    """``after``, when ``account``'s rules allow moving from ``before`` to it: else
    ``insufficient_funds`` (debits past the credits and the credit limit) or a Conflict
    named after the rule broken."""
    why = account.violation(after)
    if why == "exceeds_credits":
        raise InsufficientFunds(
            f"{account.code} cannot cover {amount} mills",
            transfer_id=transfer_id,
            account=account.code,
            available_mills=before.available + account.credit_limit,
        )
    if why is not None:
        raise Conflict(f"{account.code} refuses this transfer ({why})", code=why)
    return after


def moved_balances(
    transfer: Transfer, pending: Transfer | None, balances: Mapping[int, Balances]
) -> tuple[tuple[int, Balances], ...]:
    """Each account ``transfer`` touches with its balances after it (``effects``
    applied to ``balances``, unchecked)."""
    if pending is None and transfer.phase is Phase.POSTED:
        debit, credit = transfer.debit_account_id, transfer.credit_account_id
        return (
            (debit, balances[debit].debited(transfer.amount)),
            (credit, balances[credit].credited(transfer.amount)),
        )
    return tuple((i, balances[i] + d) for i, d in effects(transfer, pending))


def posted_between(
    debit: LedgerAccount, credit: LedgerAccount, amount: int, currency: str, transfer_id: str
) -> tuple[Balances, Balances]:
    """The two accounts' balances after a posted transfer of ``amount`` from ``debit``
    to ``credit``, every rule checked (what the posting engine decides for one posted
    transfer, without the rows)."""
    check_pair(debit, credit, currency)
    amount = check_amount(amount)
    return (
        check_balances(debit, debit.balances, debit.balances.debited(amount), transfer_id, amount),
        check_balances(
            credit, credit.balances, credit.balances.credited(amount), transfer_id, amount
        ),
    )


#: Transfers out of a meter that take back refilled funds rather than record postage.
UNREFILL_CODES = frozenset({TransferCode.WITHDRAWAL, TransferCode.REFILL_CANCEL})


@attrs.frozen
class MeterRegisters:
    """The postal view of a meter's ledger account."""

    account_id: int
    serial: str
    customer_account_id: int
    operator: str
    currency: str
    status: str = "active"  # or "withdrawn"
    descending: int = 0  # funds available in the meter
    ascending: int = 0  # postage ever used
    control_sum: int = 0  # every refill ever: ascending + descending
    pieces: int = 0

    @property
    def consistent(self) -> bool:
        return (
            self.ascending + self.descending == self.control_sum
            and min(self.descending, self.ascending, self.control_sum, self.pieces) >= 0
        )

    def after(self, transfer: Transfer) -> MeterRegisters:
        """The registers once ``transfer`` (touching this meter's account) is applied.

        Money posted into the meter is a refill; money posted out of it is postage used,
        except a withdrawal (funds leaving a withdrawn or replaced meter) and a refill's
        cancellation (its token expired unapplied), which take back what was refilled and
        never printed: descending and control sum fall together.
        Pending amounts do not move the registers until they are posted.
        """
        return self.after_all((transfer,))

    def after_all(self, transfers: Iterable[Transfer]) -> MeterRegisters:
        """The registers once ``transfers`` are applied in turn (``after`` of each), summed
        first and built once: a mail run's batch moves one meter a thousand times."""
        me = self.account_id
        descending = ascending = control_sum = pieces = 0
        for t in transfers:
            if t.phase is not Phase.POSTED and t.phase is not Phase.POST:
                continue
            if t.credit_account_id == me:
                descending += t.amount
                control_sum += t.amount
            elif t.debit_account_id != me:
                continue
            elif t.code in UNREFILL_CODES:
                descending -= t.amount
                control_sum -= t.amount
            else:
                descending -= t.amount
                ascending += t.amount
                pieces += t.pieces
        if not (descending or ascending or control_sum or pieces):
            return self
        return self._moved(descending, ascending, control_sum, pieces)

    def _moved(
        self, descending: int, ascending: int, control_sum: int, pieces: int
    ) -> MeterRegisters:
        # attrs.evolve without its cost: a mail run applies one row per piece
        return MeterRegisters(
            self.account_id,
            self.serial,
            self.customer_account_id,
            self.operator,
            self.currency,
            self.status,
            self.descending + descending,
            self.ascending + ascending,
            self.control_sum + control_sum,
            self.pieces + pieces,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "operator": self.operator,
            "currency": self.currency,
            "status": self.status,
            "descending_mills": self.descending,
            "ascending_mills": self.ascending,
            "control_sum_mills": self.control_sum,
            "pieces": self.pieces,
        }


@attrs.frozen
class Problem:
    code: str
    message: str
    seq: int | None = None
    transfer_id: str | None = None
    account: str | None = None


@attrs.frozen
class VerifyReport:
    transfers_checked: int
    accounts_checked: int
    meters_checked: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def sum_balances(items: Iterable[Balances]) -> Balances:
    total = Balances()
    for item in items:
        total = total + item
    return total


# ------------------------------------------------------------ verification rules
# ``verify`` (verify.py) reads the ledger and feeds it, row by row in chain order, to
# these two audits: the chain's (order, links, hashes, seal, checkpoint) and the
# balances' (each row's rules, every balance and register re-derived from the rows).


def _problem(
    code: str, message: str, t: Transfer | None = None, account: str | None = None
) -> Problem:
    return Problem(
        code, message, None if t is None else t.seq, None if t is None else t.id, account
    )


def _where(t: Transfer) -> str:
    return f"row {t.seq} (transfer {t.id})"


@attrs.define
class ChainAudit:
    """The hash chain checked row by row: no gap, each row linked to the one before,
    each row's content matching its hash (keyed after the seal, unkeyed up to it), the
    seal vouching for its row, and the row a kept checkpoint names unchanged."""

    key: ChainKey
    seal: ChainSeal | None
    checkpoint: Checkpoint | None
    prev_hash: str = GENESIS_HASH
    expected_seq: int = 1
    count: int = 0

    @classmethod
    def start(
        cls, key: ChainKey, seal: ChainSeal | None, checkpoint: Checkpoint | None
    ) -> tuple[ChainAudit, list[Problem]]:
        """The audit before the first row, and the problem of a checkpoint not signed
        under ``key`` (nothing it says is trusted then)."""
        if checkpoint is not None and not hmac.compare_digest(
            checkpoint.signature, key.checkpoint(checkpoint.seq, checkpoint.row_hash)
        ):
            message = f"the checkpoint of row {checkpoint.seq} is not signed with this ledger key"
            return cls(key, seal, None), [_problem("checkpoint_invalid", message)]
        return cls(key, seal, checkpoint), []

    @property
    def last_seq(self) -> int:
        return self.expected_seq - 1

    def row(self, t: Transfer) -> list[Problem]:
        """The chain's problems at row ``t`` (the next in chain order)."""
        found = []
        where = _where(t)
        self.count += 1
        if t.seq != self.expected_seq:
            found.append(
                _problem("chain_gap", f"{where}: expected row {self.expected_seq} here", t)
            )
        if t.prev_hash != self.prev_hash:
            found.append(
                _problem("chain_broken", f"{where}: does not follow the previous row's hash", t)
            )
        # Rows up to the seal kept their unkeyed hashes; the seal (keyed) vouches for the
        # last of them, and so for every one before it. Rows after it are keyed.
        keyed = self.seal is None or t.seq > self.seal.seq
        if t.computed_hash(self.key if keyed else None, t.prev_hash) != t.row_hash:
            found.append(
                _problem(
                    "row_altered",
                    f"{where}: content does not match its"
                    + (" keyed hash (altered, or another ledger key)" if keyed else " hash"),
                    t,
                )
            )
        if self.seal is not None and t.seq == self.seal.seq:
            found.extend(self._seal_problems(t))
        checkpoint = self.checkpoint
        if checkpoint is not None and t.seq == checkpoint.seq and t.row_hash != checkpoint.row_hash:
            found.append(
                _problem(
                    "checkpoint_mismatch",
                    f"{where}: differs from the checkpoint taken of it (rewritten)",
                    t,
                )
            )
        self.prev_hash, self.expected_seq = t.row_hash, t.seq + 1
        return found

    def _seal_problems(self, t: Transfer) -> list[Problem]:
        """The seal's checks, at the row it seals (the last row hashed the old way)."""
        seal = self.seal
        assert seal is not None
        where = _where(t)
        if seal.mac is None:
            message = (
                f"{where}: rows up to it were written before the chain was keyed and"
                " nobody holding the ledger key has sealed them (`postroom vault seal`)"
            )
            return [_problem("ledger_unsealed", message, t)]
        if not hmac.compare_digest(seal.mac, self.key.seal(seal.seq, seal.row_hash)):
            message = f"{where}: its seal does not match the ledger key (altered, or another key)"
            return [_problem("seal_broken", message, t)]
        if t.row_hash != seal.row_hash:
            message = f"{where}: is not the row that was sealed (rows up to it were rewritten)"
            return [_problem("seal_broken", message, t)]
        return []

    def end(self, head: tuple[int, str]) -> list[Problem]:
        """The problems once every row was read: rows removed after the checkpoint or
        the seal, and a chain head that is not the last row."""
        found = []
        last = self.last_seq
        if self.checkpoint is not None and self.checkpoint.seq > last:
            found.append(
                _problem(
                    "checkpoint_missing",
                    f"the checkpoint names row {self.checkpoint.seq} but the ledger ends at"
                    f" {last} (rows were removed)",
                )
            )
        if self.seal is not None and self.seal.seq > last:
            found.append(
                _problem(
                    "seal_broken",
                    f"rows up to {self.seal.seq} were sealed but the ledger ends at {last}",
                )
            )
        if head != (last, self.prev_hash):
            found.append(
                _problem(
                    "chain_head_mismatch",
                    f"the chain head says row {head[0]} but the last row is {last}",
                )
            )
        return found


@attrs.define
class BalanceAudit:
    """Every balance and meter register re-derived from the rows in chain order, each
    row checked against the posting rules as it is applied, then compared with the
    stored balances and registers."""

    accounts: dict[int, LedgerAccount]
    stored_meters: dict[int, MeterRegisters]
    derived: dict[int, Balances]
    meters: dict[int, MeterRegisters]
    pendings: dict[str, Transfer] = attrs.Factory(dict)
    resolved: set[str] = attrs.Factory(set)

    @classmethod
    def start(
        cls, accounts: Iterable[LedgerAccount], stored_meters: Iterable[MeterRegisters]
    ) -> BalanceAudit:
        """The audit before the first row: every balance and register at zero."""
        by_id = {a.id: a for a in accounts}
        stored = {m.account_id: m for m in stored_meters}
        return cls(
            by_id,
            stored,
            {i: Balances() for i in by_id},
            {
                i: MeterRegisters(
                    m.account_id, m.serial, m.customer_account_id, m.operator, m.currency, m.status
                )
                for i, m in stored.items()
            },
        )

    def row(self, t: Transfer) -> list[Problem]:
        """Row ``t``'s problems, once it is applied to the derived balances."""
        where = _where(t)
        debit, credit = (
            self.accounts.get(t.debit_account_id),
            self.accounts.get(t.credit_account_id),
        )
        if debit is None or credit is None:
            return [
                _problem("unknown_account", f"{where}: names an account that does not exist", t)
            ]
        found = []
        if debit.currency != t.currency or credit.currency != t.currency:
            found.append(
                _problem("currency_mismatch", f"{where}: currency differs from its accounts'", t)
            )
        if t.amount <= 0 and t.phase is not Phase.VOID and t.phase is not Phase.EXPIRE:
            found.append(_problem("invalid_amount", f"{where}: amount is not positive", t))
        pending = None
        if t.phase is Phase.PENDING:
            self.pendings[t.id] = t
        elif t.phase in RESOLVING_PHASES:
            pending = self.pendings.get(str(t.pending_id))
            if pending is None or t.pending_id in self.resolved:
                found.append(
                    _problem("bad_resolution", f"{where}: resolves no open pending transfer", t)
                )
                return found
            self.resolved.add(pending.id)
            if (pending.debit_account_id, pending.credit_account_id) != (
                t.debit_account_id,
                t.credit_account_id,
            ) or t.amount > pending.amount:
                found.append(
                    _problem("bad_resolution", f"{where}: does not match its pending transfer", t)
                )
        for affected, delta in effects(t, pending):
            account = self.accounts[affected]
            self.derived[affected] = self.derived[affected] + delta
            why = account.violation(self.derived[affected])
            if why is not None and t.phase in (Phase.POSTED, Phase.PENDING):
                found.append(
                    _problem(
                        "balance_rule_broken",
                        f"{where}: leaves {account.code} in breach ({why})",
                        t,
                        account.code,
                    )
                )
        for meter_id in (t.debit_account_id, t.credit_account_id):
            if meter_id in self.meters:
                self.meters[meter_id] = self.meters[meter_id].after(t)
        return found

    def end(self) -> list[Problem]:
        """The stored balances and registers against the derived ones, and the ledger's
        sums: debits equal credits, each meter's registers consistent."""
        found = []
        for i, account in self.accounts.items():
            if account.balances != self.derived[i]:
                found.append(
                    _problem(
                        "balance_mismatch",
                        f"{account.code}: stored balances {attrs.astuple(account.balances)} but"
                        f" the rows give {attrs.astuple(self.derived[i])}",
                        account=account.code,
                    )
                )
        total = sum_balances(a.balances for a in self.accounts.values())
        if (
            total.debits_posted != total.credits_posted
            or total.debits_pending != total.credits_pending
        ):
            found.append(
                _problem(
                    "debits_credits_differ", "the sum of debits differs from the sum of credits"
                )
            )
        for i, registers in self.meters.items():
            found.extend(self._meter_problems(i, registers))
        return found

    def _meter_problems(self, i: int, registers: MeterRegisters) -> list[Problem]:
        stored = self.stored_meters[i]
        code = self.accounts[i].code if i in self.accounts else stored.serial
        found = []
        if stored != registers:
            found.append(
                _problem(
                    "registers_mismatch",
                    f"meter {stored.serial}: stored registers differ from the rows",
                    account=code,
                )
            )
        if not stored.consistent:
            found.append(
                _problem(
                    "control_sum_broken",
                    f"meter {stored.serial}: used + available differs from the control sum",
                    account=code,
                )
            )
        if i in self.derived and registers.descending != self.derived[i].balance:
            found.append(
                _problem(
                    "registers_mismatch",
                    f"meter {stored.serial}: descending register differs from its account",
                    account=code,
                )
            )
        return found


class ReportType(StrEnum):
    """The transaction report's types; each groups one or more transfer codes."""

    FUND = "fund"
    PRINT = "print"
    REFUND = "refund"
    FEE = "fee"
    ADJUSTMENT = "adjustment"
    TRANSFER = "transfer"


REPORT_TYPE_OF: dict[TransferCode, ReportType] = {
    TransferCode.DEPOSIT: ReportType.FUND,
    TransferCode.USAGE: ReportType.PRINT,
    TransferCode.PRINT: ReportType.PRINT,
    TransferCode.REFUND: ReportType.REFUND,
    TransferCode.FEE: ReportType.FEE,
    TransferCode.ADJUSTMENT: ReportType.ADJUSTMENT,
    TransferCode.REFILL: ReportType.TRANSFER,
    TransferCode.TRANSFER: ReportType.TRANSFER,
    TransferCode.WITHDRAWAL: ReportType.TRANSFER,
    TransferCode.REFILL_CANCEL: ReportType.TRANSFER,
}

#: Phases that move posted balances: the ones a transaction report lists.
POSTING_PHASES = frozenset({Phase.POSTED, Phase.POST})


def codes_of(types: Iterable[ReportType]) -> frozenset[TransferCode]:
    wanted = set(types)
    return frozenset(code for code, kind in REPORT_TYPE_OF.items() if kind in wanted)


@attrs.frozen
class ReportEntry:
    """One posted transfer as seen from one of the customer's ledger accounts.

    ``amount`` is signed: positive when it credited the account (money in),
    negative when it debited it. A refill appears twice: out of the postage
    account, into the meter.
    """

    seq: int
    transfer_id: str
    created_at: datetime
    type: ReportType
    code: TransferCode
    account: str
    counterparty: str
    meter: str | None
    amount: int
    currency: str
    pieces: int
    reference: str
    cost_center: str | None = None


@attrs.frozen
class ReportTotal:
    """Credits, debits and their net over one account's entries of a report."""

    account: str
    currency: str
    credits: int = 0
    debits: int = 0
    count: int = 0

    @property
    def net(self) -> int:
        return self.credits - self.debits


@attrs.frozen
class TransactionReport:
    customer_number: str
    currency: str
    since: datetime | None
    until: datetime | None
    types: tuple[ReportType, ...]
    meter: str | None
    entries: tuple[ReportEntry, ...]
    totals: tuple[ReportTotal, ...]
    by_type: tuple[tuple[ReportType, int], ...]
    cost_center: str | None = None
    # Department accounting: (cost centre, net mills, pieces) over the entries that name one.
    by_cost_center: tuple[tuple[str, int, int], ...] = ()

    @classmethod
    def build(
        cls,
        customer_number: str,
        currency: str,
        accounts: Iterable[str],
        entries: Iterable[ReportEntry],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        types: Iterable[ReportType] = (),
        meter: str | None = None,
        cost_center: str | None = None,
    ) -> TransactionReport:
        rows = tuple(entries)
        totals = {code: ReportTotal(code, currency) for code in accounts}
        by_type: dict[ReportType, int] = {}
        by_center: dict[str, tuple[int, int]] = {}
        for e in rows:
            t = totals.get(e.account, ReportTotal(e.account, e.currency))
            totals[e.account] = attrs.evolve(
                t,
                credits=t.credits + max(e.amount, 0),
                debits=t.debits + max(-e.amount, 0),
                count=t.count + 1,
            )
            by_type[e.type] = by_type.get(e.type, 0) + e.amount
            if e.cost_center is not None:
                net, pieces = by_center.get(e.cost_center, (0, 0))
                by_center[e.cost_center] = (net + e.amount, pieces + e.pieces)
        return cls(
            customer_number,
            currency,
            since,
            until,
            tuple(types),
            meter,
            rows,
            tuple(totals.values()),
            tuple(sorted(by_type.items())),
            cost_center,
            tuple((name, net, pieces) for name, (net, pieces) in sorted(by_center.items())),
        )

    def total(self, account: str) -> ReportTotal:
        for t in self.totals:
            if t.account == account:
                return t
        return ReportTotal(account, self.currency)


REPORT_CSV_COLUMNS = (
    "seq",
    "transfer_id",
    "created_at",
    "type",
    "code",
    "account",
    "counterparty",
    "meter",
    "amount",
    "currency",
    "pieces",
    "reference",
    "cost_center",
)


@attrs.frozen
class HistoryItem:
    """A transfer with its accounts' codes, as a customer's history shows it."""

    transfer: Transfer
    debit: str
    credit: str


def parse_moment(text: str, *, end: bool = False) -> datetime:
    """A report or history bound from outside: ``YYYY-MM-DD`` or an ISO 8601 date-time.

    A bare date is midnight UTC of that day, or with ``end`` midnight of the next day, so
    that ``--to 2026-03-31`` includes the whole 31st (bounds are ``[from, to)``). A
    date-time without an offset is UTC.
    """
    clean = text.strip() if isinstance(text, str) else ""
    if len(clean) > 40:
        clean = ""
    try:
        if len(clean) == 10:
            day = datetime.strptime(clean, "%Y-%m-%d").replace(tzinfo=UTC)
            if end:
                return (
                    datetime.max.replace(tzinfo=UTC)
                    if day.date() == day.max.date()
                    else (day + timedelta(days=1))
                )
            return day
        return utc(datetime.fromisoformat(clean.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        raise ValidationError(
            f"invalid date {text!r}: use YYYY-MM-DD or an ISO 8601 date-time",
            code="invalid_date",
        ) from None


def parse_report_types(values: Iterable[str]) -> tuple[ReportType, ...]:
    found: list[ReportType] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                kind = ReportType(name)
            except ValueError:
                allowed = ", ".join(t.value for t in ReportType)
                raise ValidationError(
                    f"unknown transaction type {part!r} (one of {allowed})",
                    code="invalid_type",
                ) from None
            if kind not in found:
                found.append(kind)
    return tuple(found)


def clean_operator(operator: str) -> str:
    clean = operator.strip().upper()
    if not clean or len(clean) > 40 or not clean.replace("_", "").replace("-", "").isalnum():
        raise ValidationError(f"invalid postal operator {operator!r}", code="invalid_operator")
    return clean


def account_closed(code: str) -> Conflict:
    return Conflict(f"{code} is closed", code="account_closed", account=code)


def currency_mismatch(given: str, expected: str, account: str | None = None) -> ValidationError:
    where = f" of {account}" if account else ""
    return ValidationError(
        f"amount in {given} but the account{where} is in {expected}",
        code="currency_mismatch",
    )
