# Hook specifications have no body: pluggy calls the implementations, never these.
# mypy: disable-error-code="empty-body"
"""The plugin hooks of postroom.

A plugin is a module or object with functions marked ``@hookimpl`` whose names
match the specifications below. Registration hooks return provider objects that
implement a Protocol of ``postroom.core.ports``; every implementation's result is
collected, so many plugins can each provide carriers, payment sources and so on.
Event hooks are called for their side effects; their return values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from postroom.core.app import Postroom
    from postroom.core.jobs import JobRegistry
    from postroom.core.ports import (
        Carrier,
        MeterDriver,
        Notifier,
        PaymentSource,
        RateTableSource,
        Scale,
    )

PROJECT = "postroom"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_carriers() -> list[Carrier]:
    """Return the carriers (postal operators and parcel services) this plugin provides.

    Called once when postroom opens. Each carrier implements ``ports.Carrier`` and is
    known by its ``code`` (``usps``, ``canadapost``, ``laposte``...); two carriers
    with one code are reported as a plugin conflict.
    """


@hookspec
def register_payment_sources() -> list[PaymentSource]:
    """Return payment sources (bank debit, card gateway, line of credit...).

    Each implements ``ports.PaymentSource``: validate an instrument, authorize, charge
    and refund, each call carrying an idempotency key so a retry never charges twice;
    money calls answer a ``ports.PaymentResult`` (pending, settled or failed with a
    code). Collected at the first use of ``pr.funding``; codes must be unique.
    """


@hookspec
def register_notifiers() -> list[Notifier]:
    """Return notifiers that deliver messages to customers and agents.

    Each implements ``ports.Notifier``; postroom sends every notification through
    every notifier whose ``channels`` include the notification's channel (email,
    sms, log...).
    """


@hookspec
def register_meter_drivers() -> list[MeterDriver]:
    """Return drivers that open postage meters (physical or simulated).

    Each implements ``ports.MeterDriver``: ``models`` it speaks to and ``open(url)``
    returning a ``ports.MeterDevice``.
    """


@hookspec
def register_scales() -> list[Scale]:
    """Return scale drivers; each implements ``ports.Scale`` for one serial protocol."""


@hookspec
def register_rate_tables() -> list[RateTableSource]:
    """Return rate tables (postal price lists) to load.

    Each item implements ``ports.RateTableSource``: a name and the text of one table
    file with its format. Tables are validated before they are accepted; a table
    that fails validation is reported and skipped.
    """


@hookspec
def register_jobs(registry: JobRegistry) -> None:
    """Add background tasks and periodic jobs to ``registry``.

    Called when postroom opens; jobs run in ``postroom worker``. A job must be
    idempotent: running it twice changes nothing the second time.
    """


@hookspec
def shipment_status_changed(shipment: Any, old: str | None, new: str) -> None:
    """A tracked shipment moved from status ``old`` to ``new``.

    Fired after the change is committed; ``old`` is None for a new shipment.
    """


@hookspec
def case_escalated(case: Any) -> None:
    """A support case was escalated (by an agent or by its SLA running out).

    Fired after the escalation is committed.
    """


@hookspec
def postroom_opened(postroom: Postroom) -> None:
    """postroom finished opening (storage ready, plugins loaded).

    A plugin may keep a reference to ``postroom`` to reach its services.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``postroom`` command line.

    ``cli`` is the top-level Click group; add commands or groups to it.
    """


@hookspec
def register_routes(app: Any) -> None:
    """Add routes or blueprints to the web application.

    ``app`` is the Flask application being created; register blueprints on it.
    """
