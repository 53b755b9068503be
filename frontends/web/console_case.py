"""``/console/cases/<number>``: one case as staff see it — the whole thread with the
internal notes set apart, its SLA, its history, the customer's meters, postage and
cases beside it — and what an agent does to it: reply (canned replies filled in),
note, assign or take, status, priority, escalate with a reason, merge, link.

Console users only (customers and anyone else get 404). A merged number redirects to
the case it was merged into. A refused action shows the page again with the reason
next to the field; nothing is half done (each action is one use case of ``pr.cases``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from postroom.core.cases import model
from postroom.core.cases.model import CaseDetail, LinkKind, Priority, Status
from postroom.core.dashboard import customer_dashboard
from postroom.core.errors import PostroomError
from postroom.core.money import Money
from postroom.frontends.web.arguments import record_id
from postroom.frontends.web.case_messages import error_text
from postroom.frontends.web.case_terms import CONSOLE_ROLES, case_term
from postroom.frontends.web.case_uploads import download, take_files
from postroom.frontends.web.console import staff_actor, staff_names
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, roles_required

bp = Blueprint("console_case", __name__, url_prefix="/console/cases")

#: how many of the account's other cases the context column lists
OTHER_CASES = 6


class ReplyForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    body = TextAreaField(_("Reply to the customer"))
    files = MultipleFileField(_("Attach files (optional)"))
    status = SelectField(_("Then"), validate_choice=False)


class NoteForm(FlaskForm):  # type: ignore[misc]
    body = TextAreaField(_("Internal note (never shown to the customer)"))


class AssignForm(FlaskForm):  # type: ignore[misc]
    assignee = SelectField(_("Assignee"), validate_choice=False)


class StatusForm(FlaskForm):  # type: ignore[misc]
    status = SelectField(_("Status"), validate_choice=False)


class PriorityForm(FlaskForm):  # type: ignore[misc]
    priority = SelectField(_("Priority"), validate_choice=False)


class EscalateForm(FlaskForm):  # type: ignore[misc]
    reason = StringField(_("Reason for escalating"))


class MergeForm(FlaskForm):  # type: ignore[misc]
    into = StringField(_("Merge into case number"))


class AccountForm(FlaskForm):  # type: ignore[misc]
    account = StringField(_("Customer account number"))


class LinkForm(FlaskForm):  # type: ignore[misc]
    kind = SelectField(_("Link to"), validate_choice=False)
    reference = StringField(_("Reference"))


def _forms(posted: dict[str, FlaskForm] | None = None) -> dict[str, Any]:
    """Every action form of the page; ``posted`` the one just sent (with its errors)."""
    made: dict[str, Any] = {
        "reply": ReplyForm(prefix="reply", formdata=None),
        "note": NoteForm(prefix="note", formdata=None),
        "assign": AssignForm(prefix="assign", formdata=None),
        "status": StatusForm(prefix="status", formdata=None),
        "priority": PriorityForm(prefix="priority", formdata=None),
        "escalate": EscalateForm(prefix="escalate", formdata=None),
        "merge": MergeForm(prefix="merge", formdata=None),
        "link": LinkForm(prefix="link", formdata=None),
        "account": AccountForm(prefix="account", formdata=None),
    }
    made.update(posted or {})
    made["reply"].status.choices = [
        SelectChoice("", _("Keep the status")),
        SelectChoice(Status.WAITING.value, _("Wait on the customer")),
        SelectChoice(Status.RESOLVED.value, _("Mark resolved")),
    ]
    made["assign"].assignee.choices = [
        SelectChoice("", _("Nobody (back to the queue)")),
        *(SelectChoice(str(uid), name) for uid, name in sorted(staff_names().items())),
    ]
    made["status"].status.choices = [
        SelectChoice(s.value, case_term(s)) for s in Status if s is not Status.ESCALATED
    ]
    made["priority"].priority.choices = [SelectChoice(p.value, case_term(p)) for p in Priority]
    made["link"].kind.choices = [
        SelectChoice(k.value, case_term(k)) for k in LinkKind if k is not LinkKind.CASE
    ]
    return made


def _placeholders(detail: CaseDetail, customer_name: str) -> dict[str, str]:
    user = current_user()
    case = detail.case
    return {
        "customer_name": case.contact.name or customer_name,
        "case_number": case.number,
        "subject": case.subject,
        "account_number": case.customer_number or "",
        "agent_name": (user.name or user.email) if user else "",
    }


def _customer_language(email: str) -> str:
    """The language a canned reply defaults to: the contact's, when the contact is a
    portal user; else the reader's."""
    if email:
        try:
            return current_postroom().identity.by_email(email).language
        except PostroomError:
            pass  # not a portal user (an email sender, a caller)
    return str(get_locale())


def _page(number: str, posted: dict[str, FlaskForm] | None = None, status: int = 200) -> Any:
    pr = current_postroom()
    detail = pr.cases.get_for_staff(number, by=staff_actor())
    case = detail.case
    if case.number != number:  # merged: its number leads to the case it joined
        return redirect(url_for("console_case.show", number=case.number), code=301)
    board = customer_dashboard(pr, case.customer_number) if case.customer_number else None
    others = (
        [c for c in pr.cases.list(case.customer_number, limit=OTHER_CASES + 1) if c.id != case.id]
        if case.customer_number
        else []
    )
    forms = _forms(posted)
    canned = pr.canned_replies.list(case.department.value)
    chosen = request.args.get("canned", "")
    language = request.args.get("lang") or _customer_language(case.contact.email)
    if record_id(chosen) is not None and not (posted and "reply" in posted):
        try:
            forms["reply"].body.data = pr.canned_replies.render(
                record_id(chosen) or 0,
                language,
                _placeholders(detail, board.customer_name if board else ""),
            )
        except PostroomError:
            flash(_("That canned reply is gone."), "error")
    if not (posted and "assign" in posted):
        forms["assign"].assignee.data = str(case.assignee_id or "")
    if not (posted and "status" in posted):
        forms["status"].status.data = case.status.value
    if not (posted and "priority" in posted):
        forms["priority"].priority.data = case.priority.value
    try:
        claim = pr.cases.claim_for_staff(case.number, by=staff_actor()).claim
    except PostroomError:
        claim = None  # not a claim
    body = render_template(
        "console/case.html",
        claim=claim,
        detail=detail,
        case=case,
        sla=pr.cases.sla(case),
        board=board,
        balance=Money(board.postage.available_mills, board.postage.currency) if board else None,
        others=others[:OTHER_CASES],
        forms=forms,
        canned=canned,
        chosen=chosen,
        language=language,
        staff=staff_names(),
    )
    return body, status


@bp.get("/<number>")
@roles_required(*CONSOLE_ROLES)
def show(number: str) -> Any:
    try:
        clean = model.parse_case_number(number)
    except PostroomError:
        abort(404)
    return _page(clean)


def _act(number: str, name: str, form: FlaskForm, action: Any, done: Any) -> Any:
    """Run ``action()`` for the posted ``form``; on success back to the case with
    ``done``, on a refusal the page again with the reason next to the field."""
    try:
        clean = model.parse_case_number(number)
    except PostroomError:
        abort(404)
    if not form.validate_on_submit():
        abort(400)  # no CSRF token: the form did not come from our page
    try:
        action(clean)
    except PostroomError as error:
        if error.code == "case_not_found":
            abort(404)
        field = next(iter(form._fields.values()))
        for candidate in form:
            if candidate.short_name in ("body", "reason", "into", "reference", "account"):
                field = candidate
        if error.code.startswith("attachment_") and "files" in form._fields:
            field = form.files
        field.errors = [*list(field.errors or ()), error_text(error)]
        return _page(clean, {name: form}, status=422)
    flash(done, "success")
    return redirect(url_for("console_case.show", number=clean), code=303)


@bp.post("/<number>/reply")
@roles_required(*CONSOLE_ROLES)
def reply(number: str) -> Any:
    form = ReplyForm(prefix="reply")
    return _act(
        number,
        "reply",
        form,
        lambda n: current_postroom().cases.reply(
            n,
            form.body.data or "",
            by=staff_actor(),
            status=form.status.data or None,
            attachments=take_files(form.files.data or []),
        ),
        _("Reply sent."),
    )


@bp.post("/<number>/note")
@roles_required(*CONSOLE_ROLES)
def note(number: str) -> Any:
    form = NoteForm(prefix="note")
    return _act(
        number,
        "note",
        form,
        lambda n: current_postroom().cases.add_note(n, form.body.data or "", by=staff_actor()),
        _("Note added."),
    )


@bp.post("/<number>/take")
@roles_required(*CONSOLE_ROLES)
def take(number: str) -> Any:
    form = FlaskForm()
    return _act(
        number,
        "take",
        form,
        lambda n: current_postroom().cases.take(n, by=staff_actor()),
        _("The case is yours."),
    )


@bp.post("/<number>/assign")
@roles_required(*CONSOLE_ROLES)
def assign(number: str) -> Any:
    form = AssignForm(prefix="assign")
    chosen = form.assignee.data or ""
    return _act(
        number,
        "assign",
        form,
        lambda n: current_postroom().cases.assign(n, record_id(chosen), by=staff_actor()),
        _("Assignee changed."),
    )


@bp.post("/<number>/status")
@roles_required(*CONSOLE_ROLES)
def status(number: str) -> Any:
    form = StatusForm(prefix="status")
    return _act(
        number,
        "status",
        form,
        lambda n: current_postroom().cases.set_status(n, form.status.data or "", by=staff_actor()),
        _("Status changed."),
    )


@bp.post("/<number>/priority")
@roles_required(*CONSOLE_ROLES)
def priority(number: str) -> Any:
    form = PriorityForm(prefix="priority")
    return _act(
        number,
        "priority",
        form,
        lambda n: current_postroom().cases.set_priority(
            n, form.priority.data or "", by=staff_actor()
        ),
        _("Priority changed."),
    )


@bp.post("/<number>/escalate")
@roles_required(*CONSOLE_ROLES)
def escalate(number: str) -> Any:
    form = EscalateForm(prefix="escalate")
    return _act(
        number,
        "escalate",
        form,
        lambda n: current_postroom().cases.escalate(n, form.reason.data or "", by=staff_actor()),
        _("Escalated to the supervisors' priority queue."),
    )


@bp.post("/<number>/merge")
@roles_required(*CONSOLE_ROLES)
def merge(number: str) -> Response:
    form = MergeForm(prefix="merge")
    into = (form.into.data or "").strip().upper()
    return _act(  # type: ignore[no-any-return]
        number,
        "merge",
        form,
        lambda n: current_postroom().cases.merge(n, into, by=staff_actor()),
        _("Merged: the thread and links moved to %(number)s.", number=into),
    )


@bp.post("/<number>/link")
@roles_required(*CONSOLE_ROLES)
def link(number: str) -> Any:
    form = LinkForm(prefix="link")
    return _act(
        number,
        "link",
        form,
        lambda n: current_postroom().cases.add_link(
            n,
            model.parse_link(form.kind.data or "", form.reference.data or ""),
            by=staff_actor(),
        ),
        _("Link added."),
    )


@bp.get("/<number>/files/<sha256>")
@roles_required(*CONSOLE_ROLES)
def file(number: str, sha256: str) -> Any:
    """A file of a message of the case (internal notes' too), as a download."""
    try:
        reference, content = current_postroom().case_files.read(
            model.parse_case_number(number), sha256, by=staff_actor()
        )
    except PostroomError:
        abort(404)
    return download(reference, content)


@bp.post("/<number>/account")
@roles_required(*CONSOLE_ROLES)
def account(number: str) -> Any:
    """Give a case opened by an unknown contact (an email from an address no user has)
    its customer account."""
    form = AccountForm(prefix="account")
    return _act(
        number,
        "account",
        form,
        lambda n: current_postroom().cases.link_account(
            n, (form.account.data or "").strip(), by=staff_actor()
        ),
        _("The case is now the account's."),
    )
