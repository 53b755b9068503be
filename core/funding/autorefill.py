"""The auto-refill rule and the low-balance alert: below the threshold, deposit the
rule's amount (within its daily cap, never while refills are locked, one bank debit on
its way at a time, retried after a decline and suspended after the last try); still
below, alert once per crossing."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.errors import Conflict, PostroomError, ValidationError
from postroom.core.funding.collect import Collect
from postroom.core.funding.context import FundingContext, available, find_instrument
from postroom.core.funding.model import AutoRefillRule, Payment, PaymentKind, day_bounds
from postroom.core.funding.ports import FundingRepos
from postroom.core.funding.sources import PaymentDeclined
from postroom.core.ledger.model import AccountKind, LedgerAccount, check_amount
from postroom.core.money import Money

log = logging.getLogger(__name__)


@attrs.frozen
class CheckResult:
    """What one auto-refill / low-balance check did."""

    refill: Payment | None = None
    alerted: bool = False
    skipped: str | None = None  # why no refill was tried: daily_cap, refills_locked...

    def to_json(self) -> dict[str, object]:
        return {
            "refill": None if self.refill is None else self.refill.to_json(),
            "alerted": self.alerted,
            "skipped": self.skipped,
        }


@attrs.frozen
class _Standing:
    """What a check reads before deciding."""

    customer: CustomerAccount
    rule: AutoRefillRule | None
    refilled_today: int
    declined: int
    refill_pending: bool
    locked: bool


class AutoRefill:
    def __init__(self, context: FundingContext, collect: Collect) -> None:
        self._c = context
        self._collect = collect

    def set_auto_refill(
        self,
        customer_number: str,
        threshold: Money,
        *,
        amount: Money | None = None,
        daily_cap: Money | None = None,
        instrument_id: str | None = None,
    ) -> AutoRefillRule:
        """Alert below ``threshold`` once per crossing and, with ``amount`` and an
        instrument, deposit ``amount`` (at most ``daily_cap`` a UTC day)."""

        def work(repos: FundingRepos) -> AutoRefillRule:
            customer = repos.customers.customer(customer_number)
            for value in (threshold, amount, daily_cap):
                if value is not None and value.currency != customer.currency:
                    raise ValidationError(
                        f"amount in {value.currency} but the account is in {customer.currency}",
                        code="currency_mismatch",
                    )
            if instrument_id is not None:
                instrument = find_instrument(repos, customer, instrument_id)
                if instrument.status != "active":
                    raise Conflict("the instrument was removed", code="instrument_removed")
            old = repos.funding.rule(customer.id, customer.number)
            rule = AutoRefillRule(
                customer.number,
                threshold,
                amount,
                daily_cap,
                None if instrument_id is None else instrument_id.strip(),
                alerted=False if old is None else old.alerted,
            )
            if amount is not None:
                check_amount(amount.mills)
            repos.funding.save_rule(customer.id, rule, self._c.clock.now())
            repos.ledger.postage_account(customer.number, create=True)
            repos.commit()
            return rule

        return self._c.write(work)

    def auto_refill(self, customer_number: str) -> AutoRefillRule | None:
        def work(repos: FundingRepos) -> AutoRefillRule | None:
            customer = repos.customers.customer(customer_number)
            return repos.funding.rule(customer.id, customer.number)

        return self._c.read(work)

    def disable_auto_refill(self, customer_number: str) -> bool:
        """Remove the rule (and its alerts); False when there was none."""

        def work(repos: FundingRepos) -> bool:
            customer = repos.customers.customer(customer_number)
            removed = repos.funding.delete_rule(customer.id)
            repos.commit()
            return removed

        return self._c.write(work)

    def check_account(self, customer_number: str) -> CheckResult:
        """Run the customer's auto-refill rule and low-balance alert once (idempotent).

        Below the threshold: deposit the rule's amount unless refills are locked or the
        daily cap is reached; then, if still below, alert once for this crossing. At or
        above the threshold the alert re-arms.
        """
        now = self._c.clock.now()
        standing = self._c.read(lambda repos: _read_standing(repos, customer_number, now))
        customer, rule = standing.customer, standing.rule
        if rule is None:
            return CheckResult(skipped="no_rule")
        account = self._postage_account(customer.number)
        skipped = _why_not_refill(rule, standing, available(account), now)
        refill: Payment | None = None
        if skipped is None:
            assert rule.amount is not None
            assert rule.instrument_id is not None
            try:
                refill = self._collect.collect(
                    customer.number,
                    rule.instrument_id,
                    rule.amount,
                    _refill_key(account, standing.declined),
                    PaymentKind.AUTO_REFILL,
                )
            except PaymentDeclined as error:
                log.warning("auto-refill of %s declined: %s", customer.number, error.message)
                skipped = error.code
                self._declined(customer, rule, error, now)
            except PostroomError as error:
                log.warning("auto-refill of %s failed: %s", customer.number, error.message)
                skipped = error.code
            account = self._postage_account(customer.number)
        alerted = self._alert(customer, rule, available(account))
        return CheckResult(refill, alerted, skipped)

    def check_postage_account(self, account_id: int) -> CheckResult:
        """``check_account`` for the owner of ledger account ``account_id`` (the debit
        listener's task)."""

        def work(repos: FundingRepos) -> str | None:
            code = repos.ledger.codes_by_id([account_id]).get(account_id)
            account = None if code is None else repos.ledger.account_by_code(code)
            if account is None or account.kind is not AccountKind.POSTAGE:
                return None
            if account.owner_id is None:
                return None
            customer = repos.customers.customer_by_id(account.owner_id)
            return None if customer is None else customer.number

        number = self._c.read(work)
        if number is None:
            return CheckResult(skipped="not_a_postage_account")
        return self.check_account(number)

    def wants_check(self, account_id: int) -> bool:
        """Whether a debit of ledger account ``account_id`` calls for ``check_postage_account``
        (its owner has an auto-refill rule): the cheap test the debit listener makes."""

        def work(repos: FundingRepos) -> bool:
            owner = repos.ledger.owner_of(account_id)
            return owner is not None and repos.funding.has_rule(owner)

        return self._c.read(work)

    def check_all(self) -> int:
        """The worker's periodic pass over every rule; returns how many refills it made."""

        def work(repos: FundingRepos) -> list[str]:
            numbers = []
            for customer_id in repos.funding.rule_customers():
                customer = repos.customers.customer_by_id(customer_id)
                if customer is not None:
                    numbers.append(customer.number)
            return numbers

        made = 0
        for number in self._c.read(work):
            try:
                result = self.check_account(number)
            except PostroomError as error:
                log.warning("auto-refill check of %s failed: %s", number, error.message)
                continue
            made += result.refill is not None
        return made

    # ------------------------------------------------------------------ steps

    def _postage_account(self, customer_number: str) -> LedgerAccount:
        return self._c.read(lambda repos: repos.ledger.postage_account(customer_number))

    def _declined(
        self,
        customer: CustomerAccount,
        rule: AutoRefillRule,
        error: PaymentDeclined,
        now: datetime,
    ) -> None:
        """Schedule the next try of a declined auto-refill, or suspend the rule after the
        last one; the customer hears of the first decline and of the suspension."""
        after = rule.after_decline(now)
        assert rule.amount is not None

        def work(repos: FundingRepos) -> str | None:
            if not repos.funding.record_decline(customer.id, rule.declines, after, now):
                return None  # a concurrent check counted this decline
            told = None
            data = {
                "amount": str(rule.amount),
                "instrument_id": str(rule.instrument_id),
                "reason": error.code,
                "declines": str(after.declines),
            }
            if after.suspended:
                told = repos.messages.to_customer(
                    customer.number,
                    "auto_refill_suspended",
                    "Auto-refill suspended: your payment method was declined",
                    f"The auto-refill of {rule.amount} for postage account {customer.number} "
                    f"was declined {after.declines} times in a row (last: {error.message}). "
                    "It is suspended until you add or update a payment method, change the "
                    "auto-refill rule or add funds yourself.",
                    data,
                )
            elif rule.declines == 0:
                assert after.retry_at is not None
                told = repos.messages.to_customer(
                    customer.number,
                    "auto_refill_declined",
                    f"Auto-refill of {rule.amount} declined",
                    f"The auto-refill of {rule.amount} for postage account {customer.number} "
                    f"was declined ({error.message}). We will try again at "
                    f"{after.retry_at.isoformat()}; update your payment method if it "
                    "has changed.",
                    {**data, "retry_at": after.retry_at.isoformat()},
                )
            repos.commit()
            return told

        self._c.deliver(self._c.write(work))

    def _alert(self, customer: CustomerAccount, rule: AutoRefillRule, available: int) -> bool:
        """Alert once when the balance is below the threshold; re-arm at or above it."""
        below = available < rule.threshold.mills
        balance = Money(available, customer.currency)

        def work(repos: FundingRepos) -> str | None:
            changed = repos.funding.set_alerted(customer.id, below, self._c.clock.now())
            told = None
            if changed and below:
                told = repos.messages.to_customer(
                    customer.number,
                    "low_balance",
                    f"Postage balance low: {balance}",
                    f"The available balance of postage account {customer.number} is "
                    f"{balance}, below your alert threshold of {rule.threshold}. Add funds "
                    "to keep printing.",
                    {"available": str(balance), "threshold": str(rule.threshold)},
                )
            repos.commit()
            return told

        told = self._c.write(work)
        self._c.deliver(told)
        return told is not None


def _read_standing(repos: FundingRepos, customer_number: str, now: datetime) -> _Standing:
    customer = repos.customers.customer(customer_number)
    rule = repos.funding.rule(customer.id, customer.number)
    return _Standing(
        customer=customer,
        rule=rule,
        refilled_today=repos.funding.auto_refilled(customer.id, *day_bounds(now)),
        declined=repos.funding.declined_auto_refills(customer.id),
        refill_pending=any(
            p.kind == PaymentKind.AUTO_REFILL
            for p in repos.funding.pending_payments(customer.id, customer.number)
        ),
        locked=repos.funding.refills_locked(customer.id),
    )


def _why_not_refill(
    rule: AutoRefillRule, standing: _Standing, available: int, now: datetime
) -> str | None:
    """Why no refill is tried now (None: try one)."""
    if available >= rule.threshold.mills:
        return "above_threshold"
    if not rule.refills:
        return "alerts_only"
    if standing.locked:
        return "refills_locked"
    if standing.refill_pending:
        # a bank-debit refill is on its way (it counts toward the daily cap too):
        # one at a time, whatever the balance does meanwhile
        return "refill_pending"
    if rule.suspended:
        return "auto_refill_suspended"
    if rule.retry_at is not None and now < rule.retry_at:
        return "retry_scheduled"
    if not rule.allows(standing.refilled_today):
        return "daily_cap"
    return None


def _refill_key(account: LedgerAccount, declined: int) -> str:
    """The idempotency key of a refill: it follows the account's state and the declines
    so far, so two checks of one state make one payment, and each try after a decline
    (a retry, or after the customer resumed the rule) is a payment of its own."""
    b = account.balances
    state = f"{account.id}:{b.debits_posted}:{b.debits_pending}:{b.credits_posted}"
    if declined:
        state += f":after{declined}"
    return "auto-" + hashlib.sha256(state.encode()).hexdigest()[:40]
