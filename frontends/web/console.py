"""``/console``: the agent console's queues, bulk actions and the logging of a phone
call, a social-media message or a letter as a case (docs/support.md).

Staff with a console role (agent, supervisor, account manager, staff admin) only;
customers and anyone else get 404. The priority queue (escalated cases) is the
supervisors'. Every filter is a query parameter, so a queue is a link to share and
works without JavaScript; every action is a POST with its CSRF token.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from postroom.core.cases import model
from postroom.core.cases.model import (
    ACTIVE,
    Actor,
    Case,
    Channel,
    Department,
    Priority,
    QueueFilter,
    Status,
)
from postroom.core.errors import PostroomError, ValidationError
from postroom.frontends.web.arguments import record_id
from postroom.frontends.web.case_messages import error_text
from postroom.frontends.web.case_terms import CONSOLE_ROLES, case_term, may_supervise
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, roles_required

bp = Blueprint("console", __name__, url_prefix="/console")

PAGE_SIZE = 50
#: "due soon": the next deadline falls within this many hours
DUE_SOON = timedelta(hours=4)
VIEWS = ("mine", "unassigned", "priority", "department", "all")
#: the channels an agent logs by hand (the web form and email open cases themselves)
LOGGED_CHANNELS = (Channel.PHONE, Channel.SOCIAL, Channel.MAIL, Channel.CHAT)
#: what a bulk action may set
BULK_STATUSES = (Status.OPEN, Status.WAITING, Status.RESOLVED, Status.CLOSED)


def staff_actor() -> Actor:
    user = current_user()
    if user is None or not user.is_staff:
        abort(404)
    # the role travels with the actor: the area checks what a supervisor may do
    return Actor.staff(user.user_id, user.name or user.email, role=user.role)


def staff_names() -> dict[int, str]:
    """Every staff member's name by user id (the assignee column, the assign form)."""
    return {user.id: user.name or user.email for user in current_postroom().identity.staff()}


def local_target(target: str | None, fallback: str) -> str:
    """A local path to return to after an action; anything else goes to ``fallback``."""
    parts = urlsplit(target or "")
    if (
        target
        and not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
    ):
        return target
    return fallback


# --------------------------------------------------------------------- queues


def _choice(values: list[str], name: str, parse: object, errors: list[str]) -> object:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return parse(text)  # type: ignore[operator]
    except PostroomError as error:
        errors.append(error_text(error))
        return None


def _page() -> int:
    page = record_id(request.args.get("page", "1"))
    return page if page is not None and 1 <= page <= 100_000 else 1


def queue_filter(view: str, user_id: int, errors: list[str]) -> QueueFilter:
    """The query of ``view`` narrowed by the request's filters (a bad value is left
    out and said, never a 500)."""
    status = _choice([], "status", model.parse_status, errors)
    priority = _choice([], "priority", model.parse_priority, errors)
    channel = _choice([], "channel", model.parse_channel, errors)
    department = _choice([], "department", model.parse_department, errors)
    account = request.args.get("account", "").strip().upper()
    if account and not (account.isalnum() and len(account) <= 10):
        errors.append(str(_("An account number has up to 10 letters and digits.")))
        account = ""
    due = request.args.get("due", "")
    page = _page()
    if view == "priority":  # the supervisors' queue: escalated, the most urgent first
        statuses: tuple[Status, ...] = (Status.ESCALATED,)
    else:
        statuses = (status,) if isinstance(status, Status) else tuple(ACTIVE)
    return QueueFilter(
        statuses=statuses,
        by_priority=view == "priority",
        department=department if isinstance(department, Department) else None,
        assignee_id=user_id if view == "mine" else None,
        unassigned=view == "unassigned",
        priority=priority if isinstance(priority, Priority) else None,
        channel=channel if isinstance(channel, Channel) else None,
        customer_number=account or None,
        due_within=DUE_SOON if due == "soon" else None,
        breached=due == "breached",
        escalated=request.args.get("escalated") == "1",
        recurring=request.args.get("recurring") == "1",
        # one more than shown: whether there is a next page
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )


def _titles() -> dict[str, object]:
    return {
        "mine": _("My cases"),
        "unassigned": _("Unassigned cases"),
        "priority": _("Priority queue"),
        "all": _("All open cases"),
    }


@bp.get("")
@roles_required(*CONSOLE_ROLES)
def queue() -> str:
    """A queue: ``view`` mine (default), unassigned, priority (supervisors: escalated
    cases, the most urgent first), department (with ``department``), all."""
    user = current_user()
    assert user is not None  # roles_required
    view = request.args.get("view", "mine")
    if view not in VIEWS or (view == "priority" and not may_supervise()):
        abort(404)
    errors: list[str] = []
    query = queue_filter(view, user.user_id, errors)
    if view == "department" and query.department is None:
        abort(404)
    cases = current_postroom().cases.queue(query, by=staff_actor())
    title = case_term(query.department) if view == "department" else _titles()[view]
    page = _page()
    return render_template(
        "console/queue.html",
        view=view,
        title=title,
        cases=cases[:PAGE_SIZE],
        has_next=len(cases) > PAGE_SIZE,
        page=page,
        errors=errors,
        args=request.args,
        staff=staff_names(),
        now=current_postroom().clock.now(),
        due_soon=DUE_SOON,
        statuses=list(Status),
        priorities=list(Priority),
        channels=list(Channel),
        departments=list(Department),
        bulk_statuses=BULK_STATUSES,
    )


@bp.app_template_global("queue_url")
def queue_url(page: int) -> str:
    """This queue's URL on ``page`` (the other filters kept)."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
    args["page"] = page
    return url_for("console.queue", **args)


@bp.app_template_global("case_due_state")
def case_due_state(case: Case, now: object) -> str:
    """``breached``, ``due-soon`` or "" for the queue's badge."""
    due = case.next_due
    if case.breached_at is not None or (due is not None and due < now):  # type: ignore[operator]
        return "breached"
    if due is not None and due < now + DUE_SOON:  # type: ignore[operator]
        return "due-soon"
    return ""


@bp.post("/bulk")
@roles_required(*CONSOLE_ROLES)
def bulk() -> Response:
    """One action on the ticked cases of a queue: assign (to oneself or a colleague),
    a status, close. Each case is done on its own: one refused leaves the others done."""
    form = FlaskForm()
    back = local_target(request.form.get("next"), url_for("console.queue"))
    if not form.validate_on_submit():
        abort(400)
    numbers = [n for n in request.form.getlist("case") if n][:PAGE_SIZE]
    action = request.form.get("action", "")
    if not numbers:
        flash(_("Tick the cases to act on."), "error")
        return redirect(back, code=303)
    cases = current_postroom().cases
    by = staff_actor()
    done, refused = 0, []
    for number in numbers:
        try:
            if action == "take":
                cases.take(number, by=by)
            elif action.startswith("assign:") and record_id(action[7:]) is not None:
                cases.assign(number, record_id(action[7:]), by=by)
            elif action == "close":
                cases.close(number, by=by)
            elif action.startswith("status:"):
                cases.set_status(number, action[7:], by=by)
            else:
                flash(_("Choose an action."), "error")
                return redirect(back, code=303)
            done += 1
        except PostroomError as error:
            refused.append(f"{number}: {error_text(error)}")
    if done:
        flash(_("%(count)d case(s) updated.", count=done), "success")
    for line in refused:
        flash(line, "error")
    return redirect(back, code=303)


# ------------------------------------------------------------- log a contact


class LogContactForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    channel = SelectField(_("Channel"), validate_choice=False)
    account = StringField(_("Customer account number (if known)"))
    contact_name = StringField(_("Caller's name"))
    contact_email = StringField(_("Email"))
    contact_phone = StringField(_("Phone"))
    contact_details = TextAreaField(_("Postal address or social-media handle"))
    department = SelectField(_("Department"), validate_choice=False)
    priority = SelectField(_("Priority"), validate_choice=False)
    subject = StringField(_("Subject"))
    description = TextAreaField(_("What the customer said or wrote"))


#: the form's field of each core error field
LOG_FIELDS = {
    "contact_name": "contact_name",
    "contact_email": "contact_email",
    "contact_phone": "contact_phone",
    "contact_details": "contact_details",
    "subject": "subject",
    "body": "description",
    "description": "description",
}


def _log_form() -> LogContactForm:
    form = LogContactForm()
    form.channel.choices = [SelectChoice(c.value, case_term(c)) for c in LOGGED_CHANNELS]
    form.department.choices = [
        SelectChoice("", _("Route by the rules")),
        *(SelectChoice(d.value, case_term(d)) for d in Department),
    ]
    form.priority.choices = [SelectChoice(p.value, case_term(p)) for p in Priority]
    if not form.is_submitted():
        form.priority.data = Priority.NORMAL.value
    return form


@bp.route("/log", methods=["GET", "POST"])
@roles_required(*CONSOLE_ROLES)
def log_contact() -> str | Response:
    """Log a phone call, a social-media message or a letter as a case on that channel,
    with the caller's details (any console user)."""
    form = _log_form()
    if form.validate_on_submit():
        try:
            channel = model.parse_channel(form.channel.data or "")
            if channel not in LOGGED_CHANNELS:
                raise ValidationError("not a logged channel", code="invalid_channel")
            account = (form.account.data or "").strip().upper() or None
            if account is not None:
                current_postroom().accounts.get(account)  # account_not_found
            case = current_postroom().cases.open(
                by=staff_actor(),
                subject=form.subject.data or "",
                description=form.description.data or "",
                channel=channel,
                customer_number=account,
                priority=form.priority.data or Priority.NORMAL.value,
                department=form.department.data or None,
                contact=model.parse_contact(
                    form.contact_name.data or "",
                    form.contact_email.data or "",
                    form.contact_phone.data or "",
                    form.contact_details.data or "",
                ),
            )
        except PostroomError as error:
            name = str(error.details.get("field") or "")
            if error.code in ("account_not_found", "invalid_account_number"):
                name = "account"
            field = getattr(form, LOG_FIELDS.get(name, name), None) if name else None
            if field is None:
                form.form_errors.append(error_text(error))
            else:
                field.errors = [*list(field.errors or ()), error_text(error)]
        else:
            flash(_("Case %(number)s opened.", number=case.number), "success")
            return redirect(url_for("console_case.show", number=case.number), code=303)
    return render_template("console/log.html", form=form)
