"""Who is signed in to the portal: the server-side session behind the session cookie.

The browser keeps a random session id in an HttpOnly, SameSite=Lax cookie (Secure, and
``__Host-`` prefixed, in production); the server keeps its hash, when it began and when
it was last used (``pr.identity``), so idle and absolute timeouts and sign-out hold
whatever the browser sends. Other blueprints build on ``login_required``,
``roles_required`` and ``current_user`` and nothing else of this module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import attrs
from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from postroom.core.errors import Unauthenticated
from postroom.core.identity.model import User
from postroom.frontends.web.context import current_postroom

F = TypeVar("F", bound=Callable[..., Any])

COOKIE = "postroom_session"
SECURE_COOKIE = "__Host-postroom_session"


@attrs.frozen
class SignedInUser:
    """The person a request comes from (verified: an unverified person is nobody here)."""

    user_id: int
    email: str
    name: str
    account_number: str | None
    role: str
    language: str
    is_staff: bool
    #: the IANA zone the portal shows this person's times in
    time_zone: str = "UTC"

    @classmethod
    def of(cls, user: User) -> SignedInUser:
        return cls(
            user_id=user.id,
            email=user.email,
            name=user.name,
            account_number=user.account_number,
            role=user.role,
            language=user.language,
            is_staff=user.staff,
            time_zone=user.shown_time_zone,
        )


def cookie_name() -> str:
    return SECURE_COOKIE if current_app.config["SESSION_COOKIE_SECURE"] else COOKIE


def session_token() -> str | None:
    return request.cookies.get(cookie_name()) or None


def load_user() -> None:
    """``before_request``: look the session cookie up once per request."""
    g.identity_user = None
    token = session_token()
    if token is None:
        return
    try:
        g.identity_user = current_postroom().identity.session_user(token)
    except Unauthenticated:
        g.identity_session_ended = True  # the cookie is dropped on the way out


def forget_ended_session(response: Response) -> Response:
    if g.get("identity_session_ended"):
        response.delete_cookie(cookie_name(), path="/")
    return response


def start_session(response: Response, token: str) -> None:
    """Give the browser a new session id (the old one, if any, was ended)."""
    response.set_cookie(
        cookie_name(),
        token,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        path="/",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(cookie_name(), path="/")


def signed_in_person() -> User | None:
    """The session's person, verified or not (the sign-in pages only)."""
    user: User | None = g.get("identity_user")
    return user


def current_user() -> SignedInUser | None:
    """The verified person signed in, or None."""
    user = signed_in_person()
    if user is None or not user.verified:
        return None
    seen: SignedInUser | None = g.get("signed_in_user")  # once a request: see shown_time_zone
    if seen is None or seen.user_id != user.id:
        seen = g.signed_in_user = SignedInUser.of(user)
    return seen


def login_required(view: F) -> F:
    """Only for signed-in, verified people: others go to the sign-in page (and back
    here after), an unverified person to the page that says to verify."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        person = signed_in_person()
        if person is None:
            target = request.full_path if request.query_string else request.path
            return redirect(url_for("account.sign_in", next=target))
        if not person.verified:
            return redirect(url_for("account.unverified"))
        return view(*args, **kwargs)

    return cast(F, wrapped)


#: Staff roles that no portal user has: named as they are in ``roles_required``.
STAFF_ONLY_ROLES = frozenset({"agent", "supervisor", "account-manager"})


def has_role(user: SignedInUser, roles: tuple[str, ...]) -> bool:
    """Whether ``user`` has one of ``roles``. Portal and staff roles share the name
    ``admin``: a plain ``admin`` is a customer account's admin, ``staff:admin`` the
    staff one (``staff:agent`` and the like are accepted too)."""
    if user.is_staff:
        return f"staff:{user.role}" in roles or (
            user.role in STAFF_ONLY_ROLES and user.role in roles
        )
    return user.role in roles


def roles_required(*roles: str) -> Callable[[F], F]:
    """Only for the signed-in people with one of ``roles`` (see ``has_role``); the others
    get 404, as if the page did not exist."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is not None and not has_role(user, roles):
                abort(404)
            return view(*args, **kwargs)

        return login_required(cast(F, wrapped))

    return decorate


def remember_language(user: User) -> None:
    session["lang"] = user.language


def init_app(app: Flask) -> None:
    app.before_request(load_user)
    app.after_request(forget_ended_session)
    app.jinja_env.globals.update(current_user=current_user, signed_in_person=signed_in_person)
