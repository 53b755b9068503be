"""Why a print failed and what to do, as the operator reads it: one text per error, for
the portal's kiosk pages and the terminal's screens alike. In every case nothing was
charged: postage is charged only with a signed indicium."""

from __future__ import annotations

from flask_babel import gettext as _

from postroom.core.errors import InsufficientFunds, PostroomError, StorageUnavailable
from postroom.frontends.web.rates_pages import error_messages

#: Errors of the piece itself, already worded for the price form.
PIECE_ERRORS = ("over_limit", "unknown_extra", "extra_requires", "no_rate_table")
#: Errors that pass: trying again is the right thing to do.
PASSING_ERRORS = ("print_failed", "signing_key_unavailable", "data_center_failed")


def print_error(error: PostroomError) -> str:
    """The real reason ``error`` stopped a print, and what to do, in the reader's language."""
    if isinstance(error, InsufficientFunds):
        return str(
            _(
                "The account's postage funds are too low for this piece. Nothing was charged: "
                "ask your mailroom to add funds."
            )
        )
    if error.code in ("cost_center_not_allowed", "invalid_cost_center"):
        return str(_("Choose one of the cost centres shown."))
    if error.code in ("service_not_printable", "currency_mismatch"):
        return str(
            _(
                "This kiosk cannot print this service: it is priced in %(currency)s and "
                "the account pays in %(account_currency)s. Nothing was charged: choose "
                "another service.",
                currency=error.details.get("currency", "?"),
                account_currency=error.details.get("account_currency", "?"),
            )
        )
    if error.code == "kiosk_signed_out":
        return str(_("You were signed out: sign in again to print. Nothing was charged."))
    if error.code == "meter_withdrawn":
        return str(
            _(
                "The account's virtual meter is withdrawn. Nothing was charged: ask your "
                "mailroom's administrator to contact the data center."
            )
        )
    if error.code in PIECE_ERRORS:
        message = error_messages().get(error.code, error.message)
        return str(_("%(reason)s Nothing was charged.", reason=message))
    if isinstance(error, StorageUnavailable) or error.code in PASSING_ERRORS:
        return str(_("The postage could not be printed. Nothing was charged: please try again."))
    return str(
        _(
            "The postage could not be printed (%(code)s). Nothing was charged: ask your "
            "mailroom's administrator.",
            code=error.code,
        )
    )
