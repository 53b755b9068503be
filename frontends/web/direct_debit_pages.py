"""``/billing/direct-debit``: a customer signs a direct-debit mandate for a bank account
(SEPA for euro accounts, ACH for US-dollar ones), keeps its PDF, and revokes it
(docs/billing.md "Direct debit").

Only the account's owners and admins see these pages (a ``user`` gets 404, as if they
did not exist); another account's mandate answers 404. The bank account is checked by
its payment source (IBAN mod-97 and country format, ABA check digit): a refused one is
a field error and nothing is stored. After signing, the account number is only ever
shown masked.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3
from wtforms.validators import Length, Optional

from postroom.core.billing.mandate import ACCOUNT_TYPES, DebitScheme
from postroom.core.billing.mandate_document import mandate_text
from postroom.core.errors import NotFound, PostroomError
from postroom.frontends.web.billing_pages import MANAGERS, _customer
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, roles_required

bp = Blueprint("direct_debit_pages", __name__, url_prefix="/billing/direct-debit")


class MandateForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    account_holder = StringField(_("Account holder"), validators=[Length(max=70)])
    iban = StringField(_("IBAN"), validators=[Optional(), Length(max=50)])
    bic = StringField(_("BIC (optional)"), validators=[Optional(), Length(max=11)])
    routing_number = StringField(_("Routing number"), validators=[Optional(), Length(max=12)])
    account_number = StringField(_("Account number"), validators=[Optional(), Length(max=20)])
    account_type = SelectField(_("Account type"), validators=[Optional()], validate_choice=False)
    consent = BooleanField(_("I have read the mandate above and I sign it"))
    auto_debit = BooleanField(_("Debit my invoices from this account on their due date"))


def field_errors() -> dict[str, tuple[str, Any]]:
    """Error code -> (form field, message in the visitor's language)."""
    return {
        "invalid_iban": (
            "iban",
            _("This IBAN is not valid: check its country, length and check digits."),
        ),
        "iban_not_in_sepa": ("iban", _("This IBAN's country is outside the SEPA zone.")),
        "invalid_bic": ("bic", _("This BIC is not valid.")),
        "bic_mismatch": ("bic", _("This BIC is not the bank of this IBAN.")),
        "invalid_routing_number": (
            "routing_number",
            _("This routing number is not valid: 9 digits, the last one a check digit."),
        ),
        "invalid_account_number": ("account_number", _("An account number is 4 to 17 digits.")),
        "invalid_account_type": ("account_type", _("Choose checking or savings.")),
        "consent_required": ("consent", _("Tick the box to sign the mandate.")),
    }


def _page_errors() -> dict[str, Any]:
    return {
        "debit_not_offered": _("Direct debit is not offered for this account."),
        "instrument_in_use": _(
            "Automatic refills of your postage use this bank account: choose another "
            "payment method for them first."
        ),
        "mandate_reference_taken": _("Something went wrong. Please try again."),
    }


def _language() -> str:
    locale = get_locale()
    return "fr" if locale is not None and locale.language == "fr" else "en"


def _account_types() -> list[Any]:
    labels = {"checking": _("Checking"), "savings": _("Savings")}
    return [SelectChoice(kind, labels[kind]) for kind in ACCOUNT_TYPES]


def _render(form: MandateForm, number: str, status: int = 200) -> tuple[str, int]:
    billing = current_postroom().billing
    offer = billing.debit_offer(number)
    text = (
        ()
        if offer.scheme is None
        else mandate_text(offer.scheme, _language(), offer.creditor_name, offer.creditor_id)
    )
    profile = billing.profile(number)
    return (
        render_template(
            "billing/direct_debit.html",
            form=form,
            offer=offer,
            sepa=offer.scheme is DebitScheme.SEPA,
            mandate_text=text,
            mandates=billing.mandates(number),
            auto_debit_instrument=profile.auto_debit_instrument,
        ),
        status,
    )


@bp.get("")
@roles_required(*MANAGERS)
def index() -> tuple[str, int]:
    """The account's mandates and the form to sign a new one: owners and admins."""
    form = MandateForm()
    form.account_type.choices = _account_types()
    form.auto_debit.data = True
    return _render(form, _customer())


@bp.post("")
@roles_required(*MANAGERS)
def sign() -> Any:
    """Sign a mandate for a bank account; a refused account is a field error (422)."""
    number = _customer()
    form = MandateForm()
    form.account_type.choices = _account_types()
    if not form.validate_on_submit():
        return _render(form, number, 400)
    user = current_user()
    assert user is not None  # roles_required
    fields = {
        name: (getattr(form, name).data or "").strip()
        for name in ("account_holder", "iban", "bic", "routing_number", "account_number")
    }
    fields["account_type"] = form.account_type.data or ""
    try:
        mandate = current_postroom().billing.set_up_debit(
            number,
            fields,
            consent=bool(form.consent.data),
            signed_by=user.email,
            auto_debit=bool(form.auto_debit.data),
        )
    except PostroomError as error:
        known = field_errors().get(error.code)
        name = error.details.get("field") if known is None else known[0]
        if isinstance(name, str) and hasattr(form, name):
            message = known[1] if known is not None else error.message
            if error.code == "missing_field":
                message = _("This field is required.")
            getattr(form, name).errors = [str(message)]
        else:
            flash(str(_page_errors().get(error.code, error.message)), "error")
        return _render(form, number, 422)
    flash(
        str(
            _(
                "Mandate %(reference)s is signed. A copy is in your email.",
                reference=mandate.reference,
            )
        ),
        "success",
    )
    return redirect(url_for("direct_debit_pages.index"), code=303)


@bp.post("/<reference>/revoke")
@roles_required(*MANAGERS)
def revoke(reference: str) -> Any:
    """Revoke a mandate: automatic debit off, the bank account removed."""
    number = _customer()
    user = current_user()
    assert user is not None
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(str(_("The form expired. Please try again.")), "error")
        return redirect(url_for("direct_debit_pages.index"), code=303)
    try:
        mandate = current_postroom().billing.revoke_mandate(
            number, reference, revoked_by=user.email
        )
    except NotFound:
        raise
    except PostroomError as error:
        flash(str(_page_errors().get(error.code, error.message)), "error")
    else:
        flash(str(_("Mandate %(reference)s is revoked.", reference=mandate.reference)), "success")
    return redirect(url_for("direct_debit_pages.index"), code=303)


@bp.get("/<reference>.pdf")
@roles_required(*MANAGERS)
def pdf(reference: str) -> Response:
    """The signed mandate as a PDF, in the visitor's language."""
    document = current_postroom().billing.mandate_pdf(_customer(), reference, _language())
    response = Response(document, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="mandate-{reference.upper()}.pdf"'
    return response
