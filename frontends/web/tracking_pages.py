"""Tracking pages (docs/tracking.md).

- ``/track``: anybody, signed in or not, looks a number up and sees its status, what
  it means and its scans; never a name or an address. Rate-limited per client address
  (``track_lookup_rate_limit``) so nobody can walk the number space.
- ``/shipments``: a signed-in user of a customer account lists the account's shipments
  and follows a new number; ``/shipments/<id>`` shows one with its journey, what its
  status means, the proof of delivery, and the requests to support (trace, lost,
  reroute, redelivery). Another account's shipment answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3
from wtforms.validators import InputRequired, Optional

from postroom.core.errors import NotFound, PostroomError
from postroom.core.ports import ShipmentStatus
from postroom.core.tracking.explanations import explain
from postroom.core.tracking.model import Parties
from postroom.core.tracking.service import PublicTracking
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.proof_pdf import proof_pdf
from postroom.frontends.web.signin import current_user, login_required

bp = Blueprint("tracking_pages", __name__)

LOOKUP_ENDPOINT = "tracking_pages.lookup"


def error_messages() -> dict[str, Any]:
    """The visitor's-language text of the core's error codes these pages show."""
    return {
        "bad_check_digit": _("This number's check digit is wrong: check it for a typo."),
        "unknown_format": _("This is not a tracking number we recognise."),
        "unknown_country": _("This international number does not end with a country code."),
        "shipment_not_found": _("We follow no parcel with this number."),
        "no_carrier_for_number": _("No carrier installed here tracks this number."),
        "control_character": _("Remove the control characters from this field."),
        "request_not_allowed": _("This request is not possible for a parcel in this status."),
    }


def _language() -> str:
    locale = get_locale()
    return "fr" if locale is not None and locale.language == "fr" else "en"


def _message(error: PostroomError) -> str:
    return str(error_messages().get(error.code, error.message))


class LookupForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    class Meta:
        csrf = False  # a GET form: nothing changes

    number = StringField(_("Tracking number"), validators=[InputRequired()])


class FollowForm(FlaskForm):  # type: ignore[misc]
    number = StringField(_("Tracking number"), validators=[InputRequired()])
    reference = StringField(_("Your reference (optional)"), validators=[Optional()])
    recipient = StringField(_("Recipient (optional)"), validators=[Optional()])


class SupportForm(FlaskForm):  # type: ignore[misc]
    kind = SelectField(
        _("What do you need?"),
        choices=[
            SelectChoice("trace", _("Request a trace")),
            SelectChoice("lost", _("Report it lost (claim)")),
            SelectChoice("reroute", _("Reroute it")),
            SelectChoice("redelivery", _("Ask for a redelivery")),
        ],
    )
    note = TextAreaField(_("Note for support (optional)"), validators=[Optional()])


class RefreshForm(FlaskForm):  # type: ignore[misc]
    pass


@bp.get("/track")
def lookup() -> str:
    """Anybody: a number's status and scans, nothing personal."""
    form = LookupForm(request.args)
    found: PublicTracking | None = None
    error = None
    if request.args.get("number") is not None and form.validate():
        try:
            found = current_postroom().tracking.lookup(form.number.data or "")
        except PostroomError as failure:
            error = _message(failure)
    return render_template("tracking/lookup.html", form=form, found=found, error=error)


def _customer() -> str:
    user = current_user()
    if user is None or user.account_number is None:
        abort(404)
    return user.account_number


@bp.route("/shipments", methods=["GET", "POST"])
@login_required
def shipments() -> str | Response:
    """Any signed-in user of the account: its shipments, and following a new number."""
    number = _customer()
    form = FollowForm()
    if form.validate_on_submit():
        try:
            shipment = current_postroom().tracking.add(
                number,
                form.number.data or "",
                reference=form.reference.data or "",
                parties=Parties(recipient=form.recipient.data or ""),
            )
        except PostroomError as error:
            form.number.errors = [*list(form.number.errors or ()), _message(error)]
        else:
            return redirect(url_for("tracking_pages.shipment", shipment_id=shipment.id), code=303)
    status = request.args.get("status")
    known = {member.value: member for member in ShipmentStatus}
    chosen = known.get(status or "")
    found = current_postroom().tracking.list(number, status=chosen, limit=200)
    return render_template(
        "tracking/list.html",
        form=form,
        shipments=found,
        chosen=chosen,
        statuses=list(ShipmentStatus),
    )


@bp.get("/shipments/report")
@login_required
def report() -> str:
    """Any signed-in user of the account: counts by status (a bar chart drawn by the
    server), the delayed and lost shipments, and the on-time delivery rate."""
    found = current_postroom().tracking.report(_customer())
    largest = max(found.counts.values(), default=0)
    bars = [
        {"status": status, "count": found.counts.get(status, 0),
         "width": 0 if not largest else round(100 * found.counts.get(status, 0) / largest)}
        for status in ShipmentStatus
    ]  # fmt: skip
    return render_template("tracking/report.html", report=found, bars=bars)


@bp.route("/shipments/<int:shipment_id>", methods=["GET", "POST"])
@login_required
def shipment(shipment_id: int) -> str | Response:
    """One of the account's shipments; the support form posts here."""
    number = _customer()
    pr = current_postroom()
    found = pr.tracking.get(number, shipment_id)
    form = SupportForm()
    reference = None
    if form.validate_on_submit():
        user = current_user()
        assert user is not None  # login_required
        try:
            reference = pr.tracking.request_support(
                number,
                shipment_id,
                form.kind.data or "",
                note=form.note.data or "",
                requested_by=user.email,
            )
        except PostroomError as error:
            form.kind.errors = [*list(form.kind.errors or ()), _message(error)]
        found = pr.tracking.get(number, shipment_id)
    return render_template(
        "tracking/detail.html",
        shipment=found,
        scans=list(reversed(pr.tracking.scans(number, shipment_id))),
        form=form,
        refresh_form=RefreshForm(),
        reference=reference,
    )


@bp.get("/shipments/<int:shipment_id>/proof.pdf")
@login_required
def proof(shipment_id: int) -> Response:
    """The account's shipment's proof of delivery as a PDF; 404 without one."""
    number = _customer()
    pr = current_postroom()
    found = pr.tracking.get(number, shipment_id)
    if found.proof is None:
        abort(404)
    labels = {
        "title": str(_("Proof of delivery")),
        "number": str(_("Tracking number")),
        "carrier": str(_("Carrier")),
        "reference": str(_("Reference")),
        "recipient": str(_("Recipient")),
        "delivered": str(_("Delivered")),
        "signed_by": str(_("Signed by")),
        "carrier_reference": str(_("Carrier's reference")),
        "journey": str(_("Journey")),
    }
    document = proof_pdf(found, found.proof, pr.tracking.scans(number, shipment_id), labels)
    response = Response(document, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="proof-{found.number}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/shipments/<int:shipment_id>/refresh")
@login_required
def refresh(shipment_id: int) -> Response:
    """Ask the carrier now (the account's own shipment only)."""
    if not RefreshForm().validate_on_submit():
        abort(400)
    try:
        current_postroom().tracking.refresh(_customer(), shipment_id)
    except NotFound:
        abort(404)
    return redirect(url_for("tracking_pages.shipment", shipment_id=shipment_id), code=303)


# -------------------------------------------------------------- template helpers


def _status_title(status: ShipmentStatus) -> str:
    return explain(status, _language()).title


def _moment(moment: datetime | None) -> str:
    """A scan's time as the place of the scan knew it, with its offset."""
    if moment is None:
        return "—"
    offset = moment.strftime("%z")
    return (
        f"{format_datetime(moment.replace(tzinfo=None), 'medium')} (UTC{offset[:3]}:{offset[3:]})"
    )


@bp.app_template_global("status_explanation")
def status_explanation(status: ShipmentStatus) -> Any:
    return explain(status, _language())


def _register_filters(state: Any) -> None:
    state.app.jinja_env.filters.update({"status_title": _status_title, "scan_time": _moment})


bp.record_once(_register_filters)
