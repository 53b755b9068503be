"""The portal's account pages: registration, sign-in and sign-out, email verification,
password reset, profile, the account's people and its API keys (docs/identity.md).

Every link from an email opens a page with a button: a GET never changes anything
(mail scanners open links), the POST does. Domain errors come back as field messages.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from postroom.core.errors import (
    Conflict,
    Locked,
    NotFound,
    PermissionDenied,
    PostroomError,
    Unauthenticated,
    ValidationError,
)
from postroom.core.identity.model import InvalidForm, Registration, User
from postroom.core.timezones import time_zones
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import (
    current_user,
    end_session,
    login_required,
    remember_language,
    roles_required,
    session_token,
    signed_in_person,
    start_session,
)

bp = Blueprint("account", __name__, url_prefix="/account")

#: What each stable error code says next to its field, in the visitor's language.
MESSAGES = {
    "required": _l("This field is required."),
    "too_long": _l("This is too long."),
    "control_characters": _l("This contains characters that are not allowed."),
    "invalid_email": _l("Enter a valid email address."),
    "invalid_phone": _l("Enter a valid phone number, e.g. +1 202 555 0143."),
    "password_too_short": _l("A password has at least 12 characters."),
    "password_too_long": _l("A password has at most 128 characters."),
    "password_common": _l("This password is one of the most common ones: choose another."),
    "invalid_language": _l("Choose English or French."),
    "invalid_time_zone": _l("Choose a time zone from the list."),
    "invalid_role": _l("Choose one of the roles offered."),
    "no_matching_meter": _l(
        "No meter with this serial number is registered to this customer account."
    ),
    "wrong_answer": _l("This is not the answer you gave."),
    "wrong_password": _l("This is not your current password."),
    "invalid_account_number": _l("Enter a customer account number (10 digits)."),
}

TOKEN_MESSAGES = {
    "token_invalid": _l("This link is not valid. Check that you copied all of it."),
    "token_used": _l("This link was already used. Ask for a new one if needed."),
    "token_expired": _l("This link has expired. Ask for a new one."),
    "email_taken": _l("This email address is already in use."),
}

ROLE_LABELS = {
    "owner": _l("Owner"),
    "admin": _l("Administrator"),
    "user": _l("Mailroom operator"),
}

LANGUAGE_CHOICES = [SelectChoice("en", "English"), SelectChoice("fr", "Français")]


def _attach(form: FlaskForm, error: ValidationError) -> None:
    """Put a domain error's messages next to their fields (or at the top of the form)."""
    errors = (
        error.errors
        if isinstance(error, InvalidForm)
        else {str(error.details.get("field", "form")): error}
    )
    for name, failure in errors.items():
        message = MESSAGES.get(failure.code, failure.message)
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), message]
        else:
            form.form_errors.append(message)


def _client() -> str:
    return request.remote_addr or "unknown"


def _safe_next(target: str | None) -> str:
    """A local path to go to after signing in; anything else goes to the dashboard
    (which sends staff, who have no customer account, on to their profile)."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not (target.startswith("//") or target.startswith("/\\"))
        ):
            return target
    return url_for("portal.dashboard")


# --------------------------------------------------------------------- forms


class Form(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type information
    """A form of these pages: its fields, and the CSRF token checked on every POST."""


class RegistrationForm(Form):
    email = EmailField(_l("Email (your login)"))
    password = PasswordField(_l("Password (12 to 128 characters)"))
    security_question = StringField(_l("Security question"))
    security_answer = StringField(_l("Answer to the security question"))
    name = StringField(_l("Your name"))
    company = StringField(_l("Company"))
    phone = TelField(_l("Business phone"))
    customer_number = StringField(_l("Customer account number"))
    serial = StringField(_l("Equipment serial number"))


class SignInForm(Form):
    email = EmailField(_l("Email"))
    password = PasswordField(_l("Password"))


class EmailForm(Form):
    email = EmailField(_l("Email"))


class ResetForm(Form):
    security_answer = StringField(_l("Answer to your security question"))
    password = PasswordField(_l("New password (12 to 128 characters)"))


class ProfileForm(Form):
    name = StringField(_l("Your name"))
    phone = TelField(_l("Business phone"))
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    # the service checks it (an unknown zone is reported next to the field)
    time_zone = SelectField(
        _l("Time zone (dates and times are shown in it)"),
        choices=[SelectChoice(zone, zone) for zone in sorted(time_zones())],
        validate_choice=False,
    )


class PasswordForm(Form):
    current_password = PasswordField(_l("Current password"))
    new_password = PasswordField(_l("New password (12 to 128 characters)"))


class ChangeEmailForm(Form):
    current_password = PasswordField(_l("Current password"))
    new_email = EmailField(_l("New email"))


class SecurityForm(Form):
    current_password = PasswordField(_l("Current password"))
    security_question = StringField(_l("Security question"))
    security_answer = StringField(_l("Answer to the security question"))


class InvitationForm(Form):
    name = StringField(_l("Your name"))
    phone = TelField(_l("Business phone"))
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    password = PasswordField(_l("Password (12 to 128 characters)"))
    security_question = StringField(_l("Security question"))
    security_answer = StringField(_l("Answer to the security question"))


class InviteForm(Form):
    email = EmailField(_l("Email"))
    role = SelectField(_l("Role"), choices=[SelectChoice(k, v) for k, v in ROLE_LABELS.items()])
    # optional: a post without it writes in the inviter's language; the service checks it
    language = SelectField(
        _l("Language of the invitation"), choices=LANGUAGE_CHOICES, validate_choice=False
    )


class RoleForm(Form):
    role = SelectField(_l("Role"), choices=[SelectChoice(k, v) for k, v in ROLE_LABELS.items()])


class ApiKeyForm(Form):
    label = StringField(_l("What the key is for"))


class ConfirmForm(Form):
    """A button and its CSRF token."""


# --------------------------------------------------------------- registration


@bp.route("/register", methods=["GET", "POST"])
def register() -> str | Response:
    """Anyone may register (docs/identity.md "Registration")."""
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.register(
                Registration(
                    email=form.email.data or "",
                    password=form.password.data or "",
                    security_question=form.security_question.data or "",
                    security_answer=form.security_answer.data or "",
                    name=form.name.data or "",
                    company=form.company.data or "",
                    phone=form.phone.data or "",
                    language=_language(),
                    customer_number=form.customer_number.data or "",
                    serial=form.serial.data or "",
                )
            )
        except ValidationError as error:
            _attach(form, error)
        else:
            # the same page whether the address was new or already registered
            return redirect(url_for("account.registered"), code=303)
    return render_template("account/register.html", form=form)


def _language() -> str:
    return str(get_locale() or "en")


@bp.get("/registered")
def registered() -> str:
    """Anyone: what happens next after registering."""
    return render_template("account/registered.html")


@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> str | Response:
    """Anyone holding the link: GET shows a button, POST confirms the address."""
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.verify(token)
        except (NotFound, Conflict) as error:
            return _token_problem(error)
        flash(str(_l("Your email address is confirmed. Welcome!")))
        if signed_in_person() is not None:
            return redirect(url_for("account.profile"), code=303)
        return redirect(url_for("account.sign_in"), code=303)
    return render_template("account/confirm.html", form=form, what="verify")


def _token_problem(error: PostroomError) -> Response:
    message = TOKEN_MESSAGES.get(error.code, error.message)
    status = 404 if isinstance(error, NotFound) else 409
    page = render_template("account/link_problem.html", message=message, code=error.code)
    response: Response = make_response(page, status)
    return response


@bp.route("/verify", methods=["GET", "POST"])
def resend_verification() -> str | Response:
    """Anyone: a new verification link to an address, with no hint whether it exists."""
    form = EmailForm()
    person = signed_in_person()
    if request.method == "GET" and person is not None and not form.email.data:
        form.email.data = person.email
    if form.validate_on_submit():
        current_postroom().identity.resend_verification(form.email.data or "")
        return render_template("account/sent.html", what="verify")
    return render_template("account/resend.html", form=form)


@bp.get("/unverified")
def unverified() -> str | Response:
    """A signed-in person whose email is not verified yet: this page only."""
    person = signed_in_person()
    if person is None:
        return redirect(url_for("account.sign_in"))
    if person.verified:
        return redirect(url_for("account.profile"))
    return render_template("account/unverified.html", person=person, form=EmailForm())


# --------------------------------------------------------------------- sign-in


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> str | Response | tuple[str, int]:
    """Anyone: sign in with email and password (throttled, docs/identity.md)."""
    form = SignInForm()
    if form.validate_on_submit():
        pr = current_postroom()
        try:
            signed = pr.identity.sign_in(
                form.email.data or "", form.password.data or "", client=_client()
            )
        except Unauthenticated:
            form.form_errors.append(_l("Unknown email or wrong password."))
            return render_template("account/sign_in.html", form=form), 401
        except Locked as error:
            form.form_errors.append(
                _l(
                    "Too many failed attempts. Try again in %(seconds)s seconds.",
                    seconds=error.details.get("retry_after", 60),
                )
            )
            return render_template("account/sign_in.html", form=form), 429
        old = session_token()
        if old is not None:
            pr.identity.sign_out(old)  # a new session id at every sign-in
        session.pop("csrf_token", None)  # and a new CSRF token with it
        remember_language(signed.user)
        target = (
            _safe_next(request.args.get("next"))
            if signed.user.verified
            else url_for("account.unverified")
        )
        response = redirect(target, code=303)
        start_session(response, signed.token)
        return response
    return render_template("account/sign_in.html", form=form)


@bp.post("/sign-out")
def sign_out() -> Response:
    """Anyone signed in: end the session on the server (its cookie stops working)."""
    token = session_token()
    if token is not None:
        current_postroom().identity.sign_out(token)
    response = redirect(url_for("account.sign_in"), code=303)
    end_session(response)
    return response


# --------------------------------------------------------------------- reset


@bp.route("/reset", methods=["GET", "POST"])
def reset() -> str | Response:
    """Anyone: a reset link to an address, with no hint whether it exists."""
    form = EmailForm()
    if form.validate_on_submit():
        current_postroom().identity.request_reset(form.email.data or "")
        return render_template("account/sent.html", what="reset")
    return render_template("account/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> str | Response | tuple[str, int]:
    """Anyone holding the link and the security answer: a new password."""
    identity = current_postroom().identity
    try:
        question = identity.reset_question(token)
    except (NotFound, Conflict) as error:
        return _token_problem(error)
    form = ResetForm()
    if form.validate_on_submit():
        try:
            identity.reset_password(
                token,
                form.security_answer.data or "",
                form.password.data or "",
                client=_client(),
            )
        except ValidationError as error:
            _attach(form, error)
        except Locked as error:
            form.form_errors.append(
                _l(
                    "Too many failed attempts. Try again in %(seconds)s seconds.",
                    seconds=error.details.get("retry_after", 60),
                )
            )
            return render_template("account/reset.html", form=form, question=question), 429
        except (NotFound, Conflict) as error:
            return _token_problem(error)
        else:
            flash(str(_l("Your password was changed. Sign in with it now.")))
            return redirect(url_for("account.sign_in"), code=303)
    return render_template("account/reset.html", form=form, question=question)


# --------------------------------------------------------------------- profile


@bp.get("/profile")
@login_required
def profile() -> str:
    """The signed-in person's own profile."""
    return _profile_page()


def _profile_page(**forms: FlaskForm) -> str:
    person = signed_in_person()
    assert person is not None
    profile_form = forms.get("profile") or ProfileForm(
        data={
            "name": person.name,
            "phone": person.phone,
            "language": person.language,
            "time_zone": person.shown_time_zone,
        }
    )
    security = forms.get("security") or SecurityForm(
        data={"security_question": person.security_question}
    )
    return render_template(
        "account/profile.html",
        person=person,
        roles=ROLE_LABELS,
        profile_form=profile_form,
        password_form=forms.get("password") or PasswordForm(),
        email_form=forms.get("email") or ChangeEmailForm(),
        security_form=security,
    )


@bp.post("/profile")
@login_required
def update_profile() -> str | Response:
    """The signed-in person: name, phone and language."""
    person = signed_in_person()
    assert person is not None
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            user = current_postroom().identity.update_profile(
                person.id,
                name=form.name.data or "",
                phone=form.phone.data or "",
                language=form.language.data or "",
                time_zone=form.time_zone.data or "",
            )
        except ValidationError as error:
            _attach(form, error)
        else:
            remember_language(user)
            flash(str(_l("Your profile was saved.")))
            return redirect(url_for("account.profile"), code=303)
    return _profile_page(profile=form)


@bp.post("/profile/password")
@login_required
def change_password() -> str | Response:
    """The signed-in person, with the current password: a new one."""
    person = signed_in_person()
    token = session_token()
    assert person is not None
    assert token is not None
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.change_password(
                person.id,
                form.current_password.data or "",
                form.new_password.data or "",
                keep_session=token,
            )
        except ValidationError as error:
            _attach(form, error)
        else:
            flash(str(_l("Your password was changed; your other sessions were ended.")))
            return redirect(url_for("account.profile"), code=303)
    return _profile_page(password=form)


@bp.post("/profile/email")
@login_required
def change_email() -> str | Response:
    """The signed-in person, with the current password: a new login address (confirmed
    by a link sent to it)."""
    person = signed_in_person()
    assert person is not None
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.change_email(
                person.id, form.current_password.data or "", form.new_email.data or ""
            )
        except ValidationError as error:
            _attach(form, error)
        else:
            flash(str(_l("We sent a confirmation link to the new address.")))
            return redirect(url_for("account.profile"), code=303)
    return _profile_page(email=form)


@bp.post("/profile/security")
@login_required
def change_security() -> str | Response:
    """The signed-in person, with the current password: a new security question."""
    person = signed_in_person()
    assert person is not None
    form = SecurityForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.change_security_question(
                person.id,
                form.current_password.data or "",
                form.security_question.data or "",
                form.security_answer.data or "",
            )
        except ValidationError as error:
            _attach(form, error)
        else:
            flash(str(_l("Your security question was changed.")))
            return redirect(url_for("account.profile"), code=303)
    return _profile_page(security=form)


@bp.route("/email/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> str | Response:
    """Anyone holding the link: make its address the login (the old one is told)."""
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.confirm_email(token)
        except (NotFound, Conflict) as error:
            return _token_problem(error)
        flash(str(_l("Your new email address is confirmed.")))
        return redirect(url_for("account.sign_in"), code=303)
    return render_template("account/confirm.html", form=form, what="email")


# --------------------------------------------------------------------- people


@bp.get("/users")
@roles_required("owner", "admin")
def users() -> str:
    """Owners and admins of a customer account: its people."""
    return _users_page(InviteForm(language=_language()))


def _users_page(invite: InviteForm) -> str:
    user = current_user()
    assert user is not None
    assert user.account_number is not None
    people = current_postroom().identity.users(user.account_number)
    return render_template(
        "account/users.html",
        people=people,
        invite=invite,
        role_form=RoleForm,
        roles=ROLE_LABELS,
        confirm=ConfirmForm(),
    )


def _manager() -> tuple[str, User]:
    """The customer account of the signed-in owner or admin, and that person (the
    views' ``roles_required`` let nobody else in)."""
    person = signed_in_person()
    assert person is not None
    assert person.account_number is not None
    return person.account_number, person


@bp.post("/users/invite")
@roles_required("owner", "admin")
def invite() -> str | Response:
    """Owners and admins: invite a colleague by email (an owner invites owners too)."""
    number, person = _manager()
    form = InviteForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.invite(
                number,
                form.email.data or "",
                form.role.data or "",
                by=person,
                language=form.language.data or None,
            )
        except ValidationError as error:
            _attach(form, error)
        except Conflict:
            form.email.errors = [*form.email.errors, TOKEN_MESSAGES["email_taken"]]
        except PermissionDenied:
            form.role.errors = [*form.role.errors, _l("Only an owner gives the owner role.")]
        else:
            flash(str(_l("The invitation was sent.")))
            return redirect(url_for("account.users"), code=303)
    return _users_page(form)


@bp.post("/users/<int:user_id>/role")
@roles_required("owner", "admin")
def set_role(user_id: int) -> Response:
    """Owners and admins: change a person's role; another account's person is 404."""
    number, person = _manager()
    form = RoleForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.set_role(
                number,
                user_id,
                form.role.data or "",
                by=person,
            )
        except PermissionDenied:
            flash(str(_l("Only an owner changes an owner or gives the owner role.")), "error")
        except Conflict:
            flash(
                str(_l("An account keeps at least one owner: make someone else owner first.")),
                "error",
            )
        except ValidationError:
            flash(str(MESSAGES["invalid_role"]), "error")
        else:
            flash(str(_l("The role was changed.")))
    return redirect(url_for("account.users"), code=303)


@bp.post("/users/<int:user_id>/remove")
@roles_required("owner", "admin")
def remove_user(user_id: int) -> Response:
    """Owners and admins: remove a person; another account's person is 404."""
    number, person = _manager()
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            current_postroom().identity.remove(number, user_id, by=person)
        except PermissionDenied:
            flash(str(_l("Only an owner removes an owner.")), "error")
        except Conflict:
            flash(
                str(_l("An account keeps at least one owner: make someone else owner first.")),
                "error",
            )
        else:
            flash(str(_l("The person was removed.")))
            if person.id == user_id:  # removed themselves: signed out with it
                response = redirect(url_for("account.sign_in"), code=303)
                end_session(response)
                return response
    return redirect(url_for("account.users"), code=303)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> str | Response:
    """Anyone holding the invitation link: choose a name, password and security question."""
    identity = current_postroom().identity
    try:
        invited = identity.invitation(token)
    except (NotFound, Conflict) as error:
        return _token_problem(error)
    form = InvitationForm()
    if request.method == "GET":  # the language the invitation was written in
        form.language.data = invited.language
    if form.validate_on_submit():
        try:
            identity.accept_invitation(
                token,
                name=form.name.data or "",
                password=form.password.data or "",
                security_question=form.security_question.data or "",
                security_answer=form.security_answer.data or "",
                phone=form.phone.data or "",
                language=form.language.data or "en",
            )
        except ValidationError as error:
            _attach(form, error)
        except (NotFound, Conflict) as error:
            return _token_problem(error)
        else:
            flash(str(_l("Welcome! Sign in with your email and new password.")))
            return redirect(url_for("account.sign_in"), code=303)
    return render_template("account/invitation.html", form=form, invited=invited)


# --------------------------------------------------------------------- API keys


@bp.get("/api-keys")
@roles_required("owner", "admin")
def api_keys() -> str:
    """Owners and admins of a customer account: its API keys."""
    return _keys_page(ApiKeyForm(), issued=None)


def _keys_page(form: ApiKeyForm, issued: str | None) -> str:
    number, _person = _manager()
    keys = current_postroom().accounts.api_keys(number)
    return render_template(
        "account/api_keys.html", keys=keys, form=form, issued=issued, confirm=ConfirmForm()
    )


@bp.post("/api-keys")
@roles_required("owner", "admin")
def create_api_key() -> str:
    """Owners and admins: a new API key, shown this once."""
    number, _person = _manager()
    form = ApiKeyForm()
    if form.validate_on_submit():
        issued = current_postroom().accounts.create_api_key(number, form.label.data or "")
        return _keys_page(ApiKeyForm(formdata=None), issued=issued.token)
    return _keys_page(form, issued=None)


@bp.post("/api-keys/<prefix>/revoke")
@roles_required("owner", "admin")
def revoke_api_key(prefix: str) -> Response:
    """Owners and admins: revoke one of the account's keys; another account's key is 404."""
    number, _person = _manager()
    form = ConfirmForm()
    if form.validate_on_submit():
        pr = current_postroom()
        if prefix not in {key.prefix for key in pr.accounts.api_keys(number)}:
            raise NotFound("no such API key", code="api_key_not_found")
        pr.accounts.revoke_api_key(prefix)
        flash(str(_l("The key was revoked.")))
    return redirect(url_for("account.api_keys"), code=303)
