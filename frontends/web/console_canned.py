"""``/console/canned``: the agents' canned replies, in English and French, with
placeholders (``pr.canned_replies``). Every console user reads them; supervisors and
staff admins write them. Anyone else gets 404."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from postroom.core.cases.canned import PLACEHOLDERS
from postroom.core.cases.model import Department
from postroom.core.errors import PostroomError
from postroom.frontends.web.case_terms import CONSOLE_ROLES, SUPERVISORS, case_term, may_supervise
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import roles_required

bp = Blueprint("console_canned", __name__, url_prefix="/console/canned")


class CannedForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    title = StringField(_("Title"))
    department = SelectField(_("Department"), validate_choice=False)
    body_en = TextAreaField(_("Reply in English"))
    body_fr = TextAreaField(_("Reply in French"))


def _messages() -> dict[str, str]:
    return {
        "missing_title": str(_("Give the reply a title.")),
        "title_too_long": str(_("A title has at most 120 characters.")),
        "missing_body_en": str(_("Write the reply in English.")),
        "missing_body_fr": str(_("Write the reply in French.")),
        "body_en_too_long": str(_("A reply has at most 5,000 characters.")),
        "body_fr_too_long": str(_("A reply has at most 5,000 characters.")),
        "unknown_placeholder": str(
            _("Use only the placeholders listed below, each in braces, e.g. {case_number}.")
        ),
        "control_character": str(_("Remove the control characters from this field.")),
    }


def _form() -> CannedForm:
    form = CannedForm()
    form.department.choices = [
        SelectChoice("", _("Every department")),
        *(SelectChoice(d.value, case_term(d)) for d in Department),
    ]
    return form


def _show(form: CannedForm, error: PostroomError) -> None:
    name = str(error.details.get("field") or "")
    field = getattr(form, name, None) if name in ("title", "body_en", "body_fr") else None
    text = _messages().get(error.code, error.message)
    if field is None:
        form.form_errors.append(text)
    else:
        field.errors = [*list(field.errors or ()), text]


@bp.get("")
@roles_required(*CONSOLE_ROLES)
def index() -> str:
    return render_template(
        "console/canned.html",
        replies=current_postroom().canned_replies.list(),
        may_write=may_supervise(),
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*SUPERVISORS)
def new() -> str | Response:
    form = _form()
    if form.validate_on_submit():
        try:
            current_postroom().canned_replies.add(
                form.title.data or "",
                form.body_en.data or "",
                form.body_fr.data or "",
                department=form.department.data or None,
            )
        except PostroomError as error:
            _show(form, error)
        else:
            return redirect(url_for("console_canned.index"), code=303)
    return render_template("console/canned_form.html", form=form, reply=None, names=PLACEHOLDERS)


@bp.route("/<int(max=999999999):reply_id>", methods=["GET", "POST"])
@roles_required(*SUPERVISORS)
def edit(reply_id: int) -> str | Response:
    canned = current_postroom().canned_replies
    try:
        reply = canned.get(reply_id)
    except PostroomError:
        abort(404)
    form = _form()
    if not form.is_submitted():
        form.title.data = reply.title
        form.department.data = reply.department or ""
        form.body_en.data = reply.body_en
        form.body_fr.data = reply.body_fr
    if form.validate_on_submit():
        try:
            canned.update(
                reply_id,
                form.title.data or "",
                form.body_en.data or "",
                form.body_fr.data or "",
                department=form.department.data or None,
            )
        except PostroomError as error:
            _show(form, error)
        else:
            return redirect(url_for("console_canned.index"), code=303)
    return render_template("console/canned_form.html", form=form, reply=reply, names=PLACEHOLDERS)


@bp.post("/<int(max=999999999):reply_id>/delete")
@roles_required(*SUPERVISORS)
def delete(reply_id: int) -> Response:
    try:
        current_postroom().canned_replies.delete(reply_id)
    except PostroomError:
        abort(404)
    return redirect(url_for("console_canned.index"), code=303)
