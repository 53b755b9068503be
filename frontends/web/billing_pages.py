"""``/billing``: a customer's account status, invoices and credit notes, their print
view and PDF, paying one, and the account's billing settings (docs/billing.md).

Every page needs a signed-in user of a customer account and shows only that account's
invoices: another account's invoice answers 404. Any user of the account reads; its
owners and admins pay and change the settings (a user gets 404 there). Forms are
Flask-WTF forms (CSRF on each); a payment form carries the idempotency key made when
the page was drawn, so a double click is charged once.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_pgettext
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3
from wtforms.validators import InputRequired, Optional

from postroom.core.billing.model import InvoiceLine, InvoiceStatus
from postroom.core.errors import PostroomError
from postroom.frontends.serialise import billing as serialise
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, login_required, roles_required

bp = Blueprint("billing_pages", __name__, url_prefix="/billing")

#: Who may pay and change the billing settings.
MANAGERS = ("owner", "admin")
BANK_DEBIT = "bank_debit"


def error_messages() -> dict[str, Any]:
    """The visitor's-language text of the error codes these pages show."""
    return {
        "card_declined": _("The card was declined. The invoice is still open."),
        "insufficient_funds": _("The payment was declined for insufficient funds."),
        "payment_declined": _("The payment was declined. The invoice is still open."),
        "expired_card": _("The card has expired."),
        "instrument_not_found": _("Choose one of your payment methods."),
        "instrument_removed": _("This payment method was removed."),
        "invoice_not_payable": _("This invoice is not open: it was paid, credited or cancelled."),
        "invoice_payment_in_progress": _("A payment of this invoice is in progress."),
        "payment_source_unavailable": _(
            "The payment service could not be reached. Try again in a moment: you will "
            "not be charged twice."
        ),
        "invalid_instrument": _("Automatic debit takes a bank account (SEPA or ACH)."),
    }


class FilterForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    class Meta:
        csrf = False  # a GET search: it changes nothing

    status = SelectField(_("Status"), validators=[Optional()], validate_choice=False)
    since = DateField(_("Issued from"), validators=[Optional()])
    until = DateField(_("Issued until"), validators=[Optional()])


class PayForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    instrument = SelectField(_("Pay with"), validators=[InputRequired()], validate_choice=False)
    key = HiddenField(validators=[InputRequired()])


class SettingsForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    paperless = BooleanField(_("Paperless billing: email me each new invoice"))
    auto_debit = SelectField(
        _("Automatic debit on the due date"), validators=[Optional()], validate_choice=False
    )


def _customer() -> str:
    """The signed-in user's customer account (staff have none: these pages are not theirs)."""
    user = current_user()
    if user is None or user.account_number is None:
        abort(404)
    return user.account_number


def _may_pay() -> bool:
    user = current_user()
    return user is not None and not user.is_staff and user.role in MANAGERS


def _status_choices() -> list[Any]:
    return [
        SelectChoice("", _("All")),
        *(SelectChoice(s.value, _status_label(s.value)) for s in InvoiceStatus),
    ]


def _status_label(value: str) -> str:
    labels = {
        # "Open" is also a support case's status ("Ouvert"); an open invoice is "À payer"
        "open": lazy_pgettext("invoice status", "Open"),
        "paid": _("Paid"),
        "overdue": _("Overdue"),
        "cancelled": _("Cancelled"),
        "credited": _("Credited"),
    }
    return str(labels.get(value, value))


def _kind_label(value: str) -> str:
    labels = {
        "lease": _("Lease"),
        "rental": _("Rental"),
        "maintenance": _("Maintenance"),
        "supplies": _("Supplies"),
        "addon": _("Meter add-on"),
        "credit_statement": _("Postage line of credit"),
        "other": _("Other"),
        "credit_note": _("Credit note"),
    }
    return str(labels.get(value, value))


def _instruments(number: str, *, bank_debits_only: bool = False) -> list[Any]:
    funding = current_postroom().funding
    sources = funding.sources()
    return [
        i
        for i in funding.instruments(number)
        if i.status == "active"
        and (source := sources.get(i.source)) is not None
        and source.kind != "credit_line"
        and (not bank_debits_only or source.kind == BANK_DEBIT)
    ]


# ------------------------------------------------------------------------ pages


@bp.get("")
@login_required
def index() -> str:
    """Account status: balance due, overdue, the invoices (filtered) and payments."""
    number = _customer()
    billing = current_postroom().billing
    form = FilterForm(request.args)
    form.status.choices = _status_choices()
    form.validate()
    status = form.status.data or None
    try:
        statement = billing.account_statement(
            number,
            status=status,
            since=form.since.data if not form.since.errors else None,
            until=form.until.data if not form.until.errors else None,
            limit=200,
        )
    except PostroomError as error:  # an unknown status in the address
        form.status.errors = [error.message]
        statement = billing.account_statement(number, limit=200)
    settings = SettingsForm()
    profile = billing.profile(number)
    settings.paperless.data = profile.paperless
    settings.auto_debit.choices = [
        SelectChoice("", _("Off: I pay each invoice")),
        *(SelectChoice(i.id, i.label) for i in _instruments(number, bank_debits_only=True)),
    ]
    settings.auto_debit.data = profile.auto_debit_instrument or ""
    return render_template(
        "billing/index.html",
        statement=statement,
        payments=billing.payments(number, limit=20),
        form=form,
        settings=settings,
        may_pay=_may_pay(),
        query=request.query_string.decode("ascii", "replace"),
    )


@bp.get("/invoices/<invoice_number>")
@login_required
def invoice(invoice_number: str) -> str:
    """One invoice with its lines, taxes and totals, and the form to pay it."""
    number = _customer()
    billing = current_postroom().billing
    found = billing.get(number, invoice_number)
    form = PayForm()
    form.instrument.choices = [SelectChoice(i.id, i.label) for i in _instruments(number)]
    # one page, one payment: a double click pays once (hex: an idempotency key starts with
    # a letter or digit, and token_urlsafe starts with - or _ once in 32)
    form.key.data = secrets.token_hex(16)
    return render_template(
        "billing/invoice.html",
        invoice=found,
        status=found.status_on(billing.today()).value,
        paid_with=billing.paid_with(found),
        form=form,
        may_pay=_may_pay() and found.payable,
    )


@bp.get("/invoices/<invoice_number>/print")
@login_required
def print_view(invoice_number: str) -> str:
    """The invoice as a page to print (no navigation)."""
    billing = current_postroom().billing
    found = billing.get(_customer(), invoice_number)
    return render_template(
        "billing/print.html",
        invoice=found,
        status=found.status_on(billing.today()).value,
        paid_with=billing.paid_with(found),
        link=billing.settings.invoice_link(found.number),
    )


@bp.get("/invoices/<invoice_number>/pdf")
@login_required
def pdf(invoice_number: str) -> Response:
    document = current_postroom().billing.pdf(_customer(), invoice_number)
    response = Response(document, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{invoice_number.upper()}.pdf"'
    return response


@bp.post("/invoices/<invoice_number>/pay")
@login_required
@roles_required(*MANAGERS)
def pay(invoice_number: str) -> Any:
    """Pay the invoice from one of the account's payment methods: owners and admins."""
    number = _customer()
    billing = current_postroom().billing
    found = billing.get(number, invoice_number)  # another account's: 404
    form = PayForm()
    form.instrument.choices = [SelectChoice(i.id, i.label) for i in _instruments(number)]
    if form.validate_on_submit():
        try:
            billing.pay(number, found.number, form.instrument.data, form.key.data or "")
        except PostroomError as error:
            flash(str(error_messages().get(error.code, error.message)), "error")
        else:
            flash(str(_("Thank you: invoice %(number)s is paid.", number=found.number)), "success")
    else:
        flash(str(_("Choose a payment method.")), "error")
    return redirect(url_for("billing_pages.invoice", invoice_number=found.number), code=303)


@bp.post("/settings")
@login_required
@roles_required(*MANAGERS)
def settings() -> Any:
    """Paperless billing on or off, automatic debit from a bank account or off."""
    number = _customer()
    billing = current_postroom().billing
    form = SettingsForm()
    if form.validate_on_submit():
        try:
            billing.set_profile(number, paperless=bool(form.paperless.data))
            billing.set_auto_debit(number, form.auto_debit.data or None)
        except PostroomError as error:
            flash(str(error_messages().get(error.code, error.message)), "error")
        else:
            flash(str(_("Your billing settings are saved.")), "success")
    return redirect(url_for("billing_pages.index"), code=303)


@bp.get("/statement.csv")
@login_required
def statement_csv() -> Response:
    """The account statement of the filtered period as CSV."""
    number = _customer()
    billing = current_postroom().billing
    form = FilterForm(request.args)
    form.status.choices = _status_choices()
    form.validate()
    try:
        found = billing.account_statement(
            number,
            status=form.status.data or None,
            since=form.since.data if not form.since.errors else None,
            until=form.until.data if not form.until.errors else None,
        )
    except PostroomError:
        found = billing.account_statement(number)
    response = Response(
        serialise.statement_csv(found, billing.payments(number)), mimetype="text/csv"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="statement-{number}-{found.day.isoformat()}.csv"'
    )
    return response


def _payment_status(value: str) -> str:
    labels = {
        "started": _("Being processed"),
        "pending": _("Submitted to your bank"),
        "settled": _("Paid"),
        "failed": _("Declined"),
        "refused": _("Refused"),
        "returned": _("Returned by your bank"),
    }
    return str(labels.get(value, value))


def _line_text(line: InvoiceLine) -> str:
    """An invoice line in the visitor's language (as stored when it has no code)."""
    locale = get_locale()
    return line.describe("fr" if locale is not None and locale.language == "fr" else "en")


def _register_filters(state: Any) -> None:
    state.app.jinja_env.filters.update(
        {
            "line_text": _line_text,
            "invoice_status": _status_label,
            "invoice_kind": _kind_label,
            "payment_status": _payment_status,
        }
    )


bp.record_once(_register_filters)
