"""``/console/accounts/<number>``: a customer account's support settings — the time zone
and the state or province whose holidays its SLA calendar counts, and its dedicated
account manager, who gets its new cases first. Supervisors and staff admins change
them; other console users read them; anyone else gets 404."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from postroom.core.errors import NotFound, PostroomError
from postroom.frontends.web.arguments import record_id
from postroom.frontends.web.case_messages import error_text
from postroom.frontends.web.case_terms import CONSOLE_ROLES, may_supervise
from postroom.frontends.web.console import staff_actor, staff_names
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import roles_required

bp = Blueprint("console_accounts", __name__, url_prefix="/console/accounts")


class ProfileForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    time_zone = StringField(_("Time zone (IANA, e.g. America/Chicago)"))
    subdivision = StringField(_("State or province whose holidays count (e.g. CA, QC)"))
    account_manager = SelectField(_("Account manager"), validate_choice=False)


def _account(number: str) -> Any:
    try:
        return current_postroom().accounts.get(number)
    except PostroomError:
        abort(404)


@bp.route("/<number>", methods=["GET", "POST"])
@roles_required(*CONSOLE_ROLES)
def profile(number: str) -> Any:
    account = _account(number)
    pr = current_postroom()
    current = pr.cases.account_profile(account.number, by=staff_actor())
    form = ProfileForm()
    names = staff_names()
    form.account_manager.choices = [
        SelectChoice("", _("None")),
        *(SelectChoice(str(uid), name) for uid, name in sorted(names.items())),
    ]
    if not form.is_submitted():
        form.time_zone.data = current.time_zone or ""
        form.subdivision.data = current.subdivision or ""
        form.account_manager.data = str(current.account_manager_id or "")
    elif not may_supervise():
        abort(404)
    elif form.validate_on_submit():
        manager = form.account_manager.data or ""
        try:
            pr.cases.set_account_profile(
                account.number,
                time_zone=(form.time_zone.data or "").strip() or None,
                subdivision=(form.subdivision.data or "").strip() or None,
                account_manager_id=record_id(manager),
                by=staff_actor(),
            )
        except NotFound as error:
            form.account_manager.errors = [error_text(error)]
        except PostroomError as error:
            field = form.subdivision if error.code == "invalid_subdivision" else form.time_zone
            field.errors = [error_text(error)]
        else:
            flash(_("Support settings saved."), "success")
            return redirect(url_for("console_accounts.profile", number=account.number), code=303)
    return render_template(
        "console/account.html",
        account=account,
        form=form,
        may_change=may_supervise(),
        manager=names.get(current.account_manager_id or 0),
    )
