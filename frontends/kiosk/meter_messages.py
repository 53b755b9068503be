"""Why a print on the attached meter failed and what to do, as the operator reads it."""

from __future__ import annotations

from flask_babel import gettext as _

from postroom.core.errors import DeviceError, InsufficientFunds, PostroomError
from postroom.frontends.kiosk.meter import MeterNotPrinted, MeterUnavailable

#: The meter's own refusals that a sync with the data center lifts.
SYNC_FIXES = ("meter_locked", "inspection_overdue", "piece_log_full", "rate_table_unknown")


def meter_error(error: PostroomError) -> str:
    """The real reason, in the reader's language; ``print_error`` answers the rest."""
    if isinstance(error, MeterUnavailable):
        return str(
            _(
                "The meter does not answer: check that it is on and connected. If it printed "
                "the piece, touch Print again: it is never charged twice."
            )
        )
    if isinstance(error, MeterNotPrinted):
        return str(_("The meter did not print the piece. Nothing was charged: touch Print again."))
    if isinstance(error, InsufficientFunds):
        return str(
            _(
                "The meter's funds are too low for this piece. Nothing was charged: add funds, "
                "then connect the meter to the data center."
            )
        )
    if error.code == "meter_locked":
        return str(
            _(
                "The meter is locked. Nothing was charged: connect it to the data center, or "
                "ask your mailroom's administrator."
            )
        )
    if error.code == "inspection_overdue":
        return str(
            _(
                "The meter's inspection is overdue. Nothing was charged: connect it to the "
                "data center."
            )
        )
    if error.code == "piece_log_full":
        return str(
            _("The meter's piece log is full. Nothing was charged: connect it to the data center.")
        )
    if error.code == "rate_table_unknown":
        return str(
            _(
                "The meter has not received this service's rates. Nothing was charged: connect "
                "it to the data center, or choose another service."
            )
        )
    if isinstance(error, DeviceError):
        return str(
            _(
                "The meter answers something unreadable (%(code)s). Nothing was charged: "
                "touch Print again, or ask your mailroom's administrator.",
                code=error.code,
            )
        )
    return ""
