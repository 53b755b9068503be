"""``/support``: a customer's support cases — open one with the web form, read them
and their history, reply, close (docs/support.md).

Every page needs a signed-in user of a customer account (any role) and shows only that
account's cases: another account's case, a merged-away number or a made-up one answers
404 alike. Internal notes never reach these pages (``pr.cases.get`` leaves them out).
The case number is on every page, in its title and heading.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from werkzeug.wrappers import Response
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from postroom.core.cases import model
from postroom.core.cases.claims import Claim
from postroom.core.cases.model import Actor, Channel, Department, Link, LinkKind
from postroom.core.errors import PostroomError, ValidationError
from postroom.core.knowledge.model import Language, is_deflection_token
from postroom.core.money import Money
from postroom.frontends.web.case_messages import error_text
from postroom.frontends.web.case_terms import case_term
from postroom.frontends.web.case_uploads import download, take_files
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import SignedInUser, current_user, login_required

bp = Blueprint("support", __name__, url_prefix="/support")

PAGE_SIZE = 50


class OpenCaseForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no types
    department = SelectField(_("Department"), validate_choice=False)
    subject = StringField(_("Subject"))
    description = TextAreaField(_("Describe the problem"))
    meter = SelectField(_("About one of your meters (optional)"), validate_choice=False)
    files = MultipleFileField(_("Attach files (optional)"))
    #: the form's deflection token: the suggested articles read from this form are
    #: counted against it, and it tells the knowledge base when the form became a case
    deflection = HiddenField()


class ReplyForm(FlaskForm):  # type: ignore[misc]
    body = TextAreaField(_("Your message"))
    files = MultipleFileField(_("Attach files (optional)"))


class TraceForm(FlaskForm):  # type: ignore[misc]
    tracking_number = StringField(_("Tracking number"))
    description = TextAreaField(_("What happened (where it was going, when it left)"))


class ClaimForm(FlaskForm):  # type: ignore[misc]
    kind = SelectField(_("The parcel is"), validate_choice=False)
    tracking_number = StringField(_("Tracking number"))
    declared_value = StringField(_("Declared value"))
    description = TextAreaField(_("What happened (where it was going, when it left)"))


#: the form's field of each code of a trace or a claim
PARCEL_FIELDS = {
    "invalid_tracking_number": "tracking_number",
    "invalid_declared_value": "declared_value",
    "invalid_amount": "declared_value",
    "missing_currency": "declared_value",
    "currency_mismatch": "declared_value",
    "invalid_claim_kind": "kind",
    "unknown_currency": "declared_value",
    "ambiguous_amount": "declared_value",
}


def _parcel_error(form: FlaskForm, error: PostroomError) -> None:
    name = PARCEL_FIELDS.get(error.code, "description")
    field = getattr(form, name, form.description)
    field.errors = [*list(field.errors or ()), error_text(error)]


@bp.route("/trace", methods=["GET", "POST"])
@login_required
def request_trace() -> Any:
    """ "Request a trace": a tracking case linked to the shipment (any user)."""
    user = _customer()
    form = TraceForm()
    if form.validate_on_submit():
        try:
            case = current_postroom().cases.request_trace(
                by=_actor(user),
                customer_number=user.account_number,
                tracking_number=form.tracking_number.data or "",
                description=form.description.data or "",
            )
        except PostroomError as error:
            _parcel_error(form, error)
        else:
            flash(
                _(
                    "Case %(number)s is open. Quote this number whenever you contact us about it.",
                    number=case.number,
                ),
                "success",
            )
            return redirect(url_for("support.show", number=case.number), code=303)
    return render_template("support/trace.html", form=form)


@bp.route("/claim", methods=["GET", "POST"])
@login_required
def file_claim() -> Any:
    """ "Report a lost parcel" (or a damaged one): a claim with its checklist."""
    user = _customer()
    assert user.account_number is not None
    currency = current_postroom().accounts.get(user.account_number).currency
    form = ClaimForm()
    form.kind.choices = [SelectChoice("lost", _("Lost")), SelectChoice("damaged", _("Damaged"))]
    if form.validate_on_submit():
        try:
            value = Money.parse(form.declared_value.data or "", default_currency=currency)
            view = current_postroom().cases.file_claim(
                by=_actor(user),
                customer_number=user.account_number,
                tracking_number=form.tracking_number.data or "",
                kind=form.kind.data or "",
                declared_value=value,
                description=form.description.data or "",
            )
        except PostroomError as error:
            _parcel_error(form, error)
        else:
            flash(
                _(
                    "Case %(number)s is open. Quote this number whenever you contact us about it.",
                    number=view.case.number,
                ),
                "success",
            )
            return redirect(url_for("support.show", number=view.case.number), code=303)
    return render_template("support/claim.html", form=form, currency=currency)


class ClaimDocumentForm(FlaskForm):  # type: ignore[misc]
    document = SelectField(_("Document"), validate_choice=False)
    file = FileField(_("File"))


def _customer() -> SignedInUser:
    """The signed-in user of a customer account (staff have none: not their pages)."""
    user = current_user()
    if user is None or user.account_number is None or user.is_staff:
        abort(404)
    return user


def _actor(user: SignedInUser) -> Actor:
    assert user.account_number is not None
    return Actor.customer(user.account_number, user.user_id, user.name or user.email)


def _detail(user: SignedInUser, number: str) -> Any:
    """The account's case or 404 (another account's, unknown, malformed: alike)."""
    assert user.account_number is not None
    try:
        return current_postroom().cases.get(user.account_number, model.parse_case_number(number))
    except PostroomError:
        abort(404)


@bp.get("")
@login_required
def index() -> str:
    """The account's cases, open ones first (any user of the account)."""
    user = _customer()
    assert user.account_number is not None
    cases = current_postroom().cases.list(user.account_number, limit=PAGE_SIZE)
    return render_template("support/list.html", cases=cases)


def _open_form(user: SignedInUser) -> OpenCaseForm:
    assert user.account_number is not None
    form = OpenCaseForm()
    form.department.choices = [
        SelectChoice("", _("Choose…")),
        *(SelectChoice(d.value, case_term(d)) for d in Department),
    ]
    meters = current_postroom().meters.list(user.account_number)
    form.meter.choices = [
        SelectChoice("", _("No meter")),
        *(SelectChoice(m.serial, f"{m.model} · {m.serial}") for m in meters),
    ]
    return form


def _serials(user: SignedInUser) -> set[str]:
    """The serials of the account's meters: the only ones a case may be linked to."""
    assert user.account_number is not None
    return {m.serial for m in current_postroom().meters.list(user.account_number)}


OPEN_FIELDS = {"subject": "subject", "body": "description", "description": "description"}


@bp.route("/new", methods=["GET", "POST"])
@login_required
def open_case() -> str | Response:
    """Open a case on the web form (any user of the account). Articles matching the
    subject and description are suggested beside it (``static/case-suggest.js`` as the
    customer types, the server when the form comes back with an error)."""
    user = _customer()
    form = _open_form(user)
    knowledge = current_postroom().knowledge
    if not is_deflection_token(form.deflection.data):
        form.deflection.data = knowledge.new_deflection_token()
    if form.validate_on_submit():
        serial = form.meter.data or ""
        try:
            if not form.department.data:
                raise ValidationError("choose a department", code="invalid_department")
            if serial and serial not in _serials(user):
                raise ValidationError("not a meter of this account", code="meter_not_found")
            attachments = take_files(form.files.data or [])
            case = current_postroom().cases.open(
                by=_actor(user),
                subject=form.subject.data or "",
                description=form.description.data or "",
                channel=Channel.WEB,
                customer_number=user.account_number,
                department=form.department.data,
                contact=model.Contact(name=user.name, email=user.email),
                links=[Link(LinkKind.METER, serial)] if serial else [],
                attachments=attachments,
            )
        except PostroomError as error:
            name = str(error.details.get("field") or "")
            if error.code == "invalid_department":
                name = "department"
            elif error.code == "meter_not_found":
                name = "meter"
            elif error.code.startswith("attachment_"):
                name = "files"
            field = getattr(form, OPEN_FIELDS.get(name, name), None) if name else None
            if field is None:
                field = form.description
            field.errors = [*list(field.errors or ()), error_text(error)]
        else:
            # the customer did not find the answer in what was suggested (read or not)
            knowledge.note_case_opened(str(form.deflection.data), case.number)
            flash(
                _(
                    "Case %(number)s is open. Quote this number whenever you contact us about it.",
                    number=case.number,
                ),
                "success",
            )
            return redirect(url_for("support.show", number=case.number), code=303)
    language = Language.FR if str(get_locale()) == "fr" else Language.EN
    hits = []
    # what made the form fail is said beside its field; a bad text suggests nothing
    if form.is_submitted():
        with contextlib.suppress(ValidationError):
            hits = knowledge.suggest(form.subject.data or "", form.description.data or "", language)
    return render_template("support/new.html", form=form, hits=hits, language=language.value)


@bp.get("/<number>")
@login_required
def show(number: str) -> Any:
    """One case of the account with its public thread and history."""
    user = _customer()
    detail = _detail(user, number)
    if detail.case.number != number:  # merged into another case: that one's page
        return redirect(url_for("support.show", number=detail.case.number), code=301)
    return _case_page(user, detail, ReplyForm())


def _claim(user: SignedInUser, number: str) -> Claim | None:
    """The claim of the account's case, if it is one."""
    assert user.account_number is not None
    try:
        return current_postroom().cases.claim(user.account_number, number).claim
    except PostroomError:
        return None


def _case_page(
    user: SignedInUser,
    detail: Any,
    form: ReplyForm,
    document_form: ClaimDocumentForm | None = None,
    status: int = 200,
) -> Any:
    claim = _claim(user, detail.case.number)
    documents = document_form or ClaimDocumentForm(formdata=None)
    if claim is not None:
        documents.document.choices = [SelectChoice(d.value, case_term(d)) for d in claim.missing]
    page = render_template(
        "support/case.html",
        detail=detail,
        case=detail.case,
        form=form,
        claim=claim,
        document_form=documents,
    )
    return page, status


@bp.post("/<number>/claim-documents")
@login_required
def claim_document(number: str) -> Any:
    """Send one document of the claim's checklist: it joins the thread as a file and the
    item is ticked."""
    user = _customer()
    detail = _detail(user, number)
    form = ClaimDocumentForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        attachments = take_files([form.file.data])
        if not attachments:
            raise ValidationError("choose a file", code="attachment_empty")
        current_postroom().cases.add_claim_document(
            detail.case.number, form.document.data or "", attachments[0], by=_actor(user)
        )
    except PostroomError as error:
        if error.code == "claim_not_found":
            abort(404)
        form.file.errors = [error_text(error)]
        return _case_page(user, detail, ReplyForm(formdata=None), form, status=422)
    flash(_("Document received."), "success")
    return redirect(url_for("support.show", number=detail.case.number), code=303)


@bp.post("/<number>/reply")
@login_required
def reply(number: str) -> Any:
    """Write to the case: it reopens a waiting or recently resolved case; a closed one
    opens a follow-up case (linked to this one), where the customer is taken."""
    user = _customer()
    detail = _detail(user, number)
    form = ReplyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        attachments = take_files(form.files.data or [])
        posted = current_postroom().cases.add_customer_message(
            detail.case.number,
            form.body.data or "",
            by=_actor(user),
            channel=Channel.WEB,
            attachments=attachments,
        )
    except PostroomError as error:
        field = form.files if error.code.startswith("attachment_") else form.body
        field.errors = [error_text(error)]
        return _case_page(user, detail, form, status=422)
    if posted.follow_up:
        flash(
            _(
                "That case was closed: your message opened case %(number)s, linked to it.",
                number=posted.case.number,
            ),
            "success",
        )
    else:
        flash(_("Message sent."), "success")
    return redirect(url_for("support.show", number=posted.case.number), code=303)


@bp.post("/<number>/close")
@login_required
def close(number: str) -> Response:
    """Close the case: the customer says the problem is solved."""
    user = _customer()
    detail = _detail(user, number)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        current_postroom().cases.close(detail.case.number, by=_actor(user))
    except PostroomError as error:
        flash(error_text(error), "error")
    else:
        flash(_("Case %(number)s is closed.", number=detail.case.number), "success")
    return redirect(url_for("support.show", number=detail.case.number), code=303)


@bp.get("/<number>/files/<sha256>")
@login_required
def file(number: str, sha256: str) -> Response:
    """A file of a message of the account's case, as a download; any other asker, or
    a file of another case, gets 404."""
    user = _customer()
    detail = _detail(user, number)
    try:
        reference, content = current_postroom().case_files.read(
            detail.case.number, sha256, by=_actor(user)
        )
    except PostroomError:
        abort(404)
    return download(reference, content)
