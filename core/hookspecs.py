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
    from postroom.core.cases.model import Case
    from postroom.core.clock import Clock
    from postroom.core.config import Config
    from postroom.core.jobs import JobRegistry
    from postroom.core.ports import (
        Carrier,
        MeterDriver,
        Notifier,
        PaymentSource,
        RateTableSource,
        Scale,
        ShipmentStatus,
        VirusScanner,
    )
    from postroom.core.tracking.model import Shipment

PROJECT = "postroom"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_payment_sources() -> list[PaymentSource]:
    """Return payment sources (bank debit, card gateway, line of credit...).

    Each implements ``ports.PaymentSource``: validate an instrument, authorize, charge
    and refund, each call carrying an idempotency key so a retry never charges twice;
    money calls answer a ``ports.PaymentResult`` (pending, settled or failed with a
    code). Collected at the first use of ``pr.funding``; codes must be unique.
    """


@hookspec
def register_notifiers(config: Config, clock: Clock) -> list[Notifier]:
    """Return notifiers that deliver messages to customers and agents.

    Each implements ``ports.Notifier``; postroom sends every notification through
    every notifier whose ``channels`` include the notification's channel (email,
    sms, log...). ``config`` is the installation's settings (a mail server, the data
    directory) and ``clock`` its clock (a message's date); take only the arguments
    you need. Called at each delivery, so keep it cheap.
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
    """Add background tasks and periodic jobs to ``registry`` (``registry.add_task``,
    ``registry.add_periodic``); postroom's own jobs are added through this hook too.

    Called when postroom opens; jobs run in ``postroom worker``. A job's ``run`` gets the
    open ``Postroom`` first. A job must be idempotent: running it twice changes nothing
    the second time. Two jobs with one name are refused (``duplicate_job``).
    """


@hookspec(historic=True)
def postroom_opened(postroom: Postroom) -> None:
    """postroom finished opening (storage ready, plugins loaded, jobs registered).

    ``postroom`` is the open installation: a plugin may keep it to reach its services.
    Historic: a plugin registered after the opening is called at once with it.
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


@hookspec
def register_carriers(config: Config) -> list[Carrier]:
    """Return carriers whose tracking postroom asks (USPS, UPS, a sandbox...).

    ``config`` is the installation's settings (each carrier's base URL and credentials);
    return a carrier only when its credentials are set, so numbers go to a carrier that
    can answer.

    Each implements ``ports.Carrier``: a ``code``, the number families it tracks and
    ``track(numbers, now=...)`` answering a ``ports.ParcelTracking`` or a
    ``ports.TrackingFailure`` per number. Collected at the first use of ``pr.tracking``;
    codes must be unique.
    """


@hookspec
def shipment_status_changed(shipment: Shipment, old: ShipmentStatus, new: ShipmentStatus) -> None:
    """A shipment's normalized status changed from ``old`` to ``new`` (a carrier's scan
    or a rule of the worker: delayed, lost, expired). Called after the change is
    committed; ``shipment`` is the shipment as it now stands."""


@hookspec
def case_escalated(case: Case) -> None:
    """A support case was escalated (by hand, with a reason, or by the SLA watch on a
    breach) and the escalation is committed.

    ``case`` is the escalated ``postroom.core.cases.model.Case`` (``number``,
    ``priority``, ``department``, ``escalation_reason``...): page an on-call
    supervisor, open an incident elsewhere. Called once per escalation.
    """


@hookspec
def register_virus_scanners() -> list[VirusScanner]:
    """Return virus scanners for the files attached to cases (email and uploads).

    Each implements ``ports.VirusScanner``: ``scan(content)`` answers the threat's name
    or None when clean, and raises when it cannot tell. The first scanner returned is
    used; without one, files are only checked by type and size.
    """
