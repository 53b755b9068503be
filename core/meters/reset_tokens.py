"""Settling a meter's reset tokens with the data center's books: a token the device
proved it applied is recorded in the vault; an expired one it never applied is cancelled
and its refill returned to the postage account, and the customer is told once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from postroom.core.errors import PostroomError
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.model import Meter
from postroom.core.meters.refills import CancelledToken, IssuedToken, token_cancellable
from postroom.core.meters.sync_rules import (
    AlertNote,
    proves_nothing_unrecorded,
    token_not_cancelled,
    token_not_recorded,
)
from postroom.core.outbox import CUSTOMER_PREFIX, Outbox
from postroom.core.ports import Notification


class ResetTokens:
    """Record applied tokens, cancel expired ones, tell customers of returned refills."""

    def __init__(self, funds: MeterFunds, outbox: Outbox) -> None:
        self._funds = funds
        self._outbox = outbox

    def record_applied(
        self, meter: Meter, token: IssuedToken, proof: Mapping[str, Any] | None = None
    ) -> AlertNote | None:
        """Record in the vault that the device applied ``token`` (``proof``: its signed
        refill reply, which the vault accepts however late); None once recorded (now or
        by an earlier run of the sync), else the alert."""
        try:
            self._funds.apply_reset_token(meter.serial, token.token, proof=proof)
        except PostroomError as error:
            if error.code == "token_replayed":
                return None  # recorded by an earlier run of this sync
            return token_not_recorded(token, error)
        return None

    def cancel_unapplied(
        self, meter: Meter, registers: Mapping[str, Any], now: datetime
    ) -> tuple[set[int], list[AlertNote]]:
        """Cancel the meter's expired, unapplied refills when the device's signed control
        sum proves it never applied them (``proves_nothing_unrecorded``). The sequences
        cancelled, and an alert for each that could not be."""
        vault = self._funds.registers(meter.serial)
        if vault.status != "active":
            return set(), []  # a withdrawal returned the meter's funds already
        issued = self._funds.issued_tokens(meter.serial)
        if not proves_nothing_unrecorded(registers, vault, issued):
            return set(), []  # the device's refills are not those recorded: it proves nothing
        done: set[int] = set()
        alerts = []
        for token in issued:
            if not token_cancellable(token, now):
                continue
            try:
                cancelled = self._funds.cancel_reset_token(meter.serial, token.reset.sequence)
            except PostroomError as error:
                alerts.append(token_not_cancelled(token, error))
                continue
            done.add(token.reset.sequence)
            self.tell_refill_returned(cancelled)
        return done, alerts

    def cancel_token(self, serial: str, sequence: int) -> CancelledToken:
        """Cancel one refill whose token expired unapplied (``MeterFunds.cancel_reset_token``)
        and tell the customer, as the worker does; a cancellation run again tells nobody
        twice."""
        cancelled = self._funds.cancel_reset_token(serial, sequence)
        self.tell_refill_returned(cancelled)  # queued only if not told before
        return cancelled

    def cancel_expired_tokens(self) -> int:
        """The worker job ``vault.cancel-expired-tokens``: the vault cancels every refill
        whose token expired unapplied (past its grace), and each customer is told once
        that the refill was returned (through the outbox, which retries a message no
        notifier took). The number of refills cancelled by this run."""
        cancelled = self._funds.cancel_expired_tokens()
        for waiting in self._funds.cancellations_to_notify():
            self.tell_refill_returned(waiting)
        return len(cancelled)

    def tell_refill_returned(self, cancelled: CancelledToken) -> None:
        """Tell the customer that ``cancelled``'s refill is back in the postage account:
        the message goes to the outbox in the transaction that marks the cancellation
        told, so it is queued exactly once and retried until a notifier takes it."""
        message = Notification(
            recipient=f"{CUSTOMER_PREFIX}{cancelled.customer_number}",
            subject=f"Meter {cancelled.serial}: refill of {cancelled.amount} returned",
            body=(
                f"The refill of {cancelled.amount} for your postage meter"
                f" {cancelled.serial} expired before the meter connected to the data"
                " center to apply it, so it was cancelled and the amount returned to"
                " your postage account. Refill the meter again when you need it."
            ),
            kind="meter.refill_returned",
            data=cancelled.to_json(),
            id=f"refill_returned:{cancelled.serial}:{cancelled.sequence}",
        )
        queued = self._funds.mark_cancellation_notified(
            cancelled.serial,
            cancelled.sequence,
            lambda connection: str(self._outbox.add(connection, message).id),
        )
        if queued:
            self._outbox.deliver([queued])
