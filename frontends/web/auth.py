"""Authentication for /api/v1: a bearer token per customer account, or the portal's
session cookie with the page's CSRF token in an ``X-CSRFToken`` header (a page's own
script calling the API).

Every API endpoint requires one unless its view is marked ``@public``; the account
the key (or the signed-in person) belongs to is ``current_account()`` for the rest of
the request, and views only ever look up objects through it, so another account's object
answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError as WTFormsValidationError

from postroom.core.accounts.model import CustomerAccount
from postroom.core.errors import PermissionDenied, Unauthenticated
from postroom.core.kiosks.model import KioskKey
from postroom.core.meters.model import Meter
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.signin import current_user, has_role

F = TypeVar("F", bound=Callable[..., object])

_PUBLIC = "_postroom_public"
_METER = "_postroom_meter_key"
_KIOSK = "_postroom_kiosk_key"
_STAFF = "_postroom_staff_session"


def public(view: F) -> F:
    """Mark an API view as reachable without a key."""
    setattr(view, _PUBLIC, True)
    return view


def meter_key_required(view: F) -> F:
    """Mark an API view as authenticated by a meter's own key (``prm_...``), not a
    customer's: the meter is ``current_meter()`` for the rest of the request."""
    setattr(view, _METER, True)
    return view


def kiosk_key_required(view: F) -> F:
    """Mark an API view as authenticated by a mailroom terminal's kiosk key (``prt_...``):
    the key is ``current_kiosk_key()`` and its account ``current_account()``."""
    setattr(view, _KIOSK, True)
    return view


def staff_session_required(*roles: str) -> Callable[[F], F]:
    """Mark an API view as for staff with one of ``roles`` (``staff:agent``...): their
    portal session and the page's CSRF token; an API key (a customer's) is refused."""

    def mark(view: F) -> F:
        setattr(view, _STAFF, tuple(roles))
        return view

    return mark


def _staff_session(roles: tuple[str, ...]) -> None:
    user = current_user()
    if user is None:
        raise Unauthenticated("sign in as staff", code="staff_session_required")
    if not user.is_staff or not has_role(user, roles):
        raise PermissionDenied("staff only", code="staff_only")
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except WTFormsValidationError:
        raise PermissionDenied(
            "send the page's CSRF token as the X-CSRFToken header", code="csrf_failed"
        ) from None
    g.staff = user


API_PREFIX = "/api/v1/"


def authenticate_request() -> None:
    """``before_request`` of the app: every /api/v1 route, a plugin's included, needs a key."""
    if not request.path.startswith(API_PREFIX):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, _PUBLIC, False):
        return  # unknown routes answer 404, public ones need nothing
    staff_roles = getattr(view, _STAFF, None)
    if staff_roles is not None:
        _staff_session(staff_roles)
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    own_key = getattr(view, _METER, False) or getattr(view, _KIOSK, False)
    if not token.strip() and not own_key and _by_session():
        return
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "send an API key as 'Authorization: Bearer <key>'", code="missing_api_key"
        )
    if getattr(view, _METER, False):
        g.meter = current_postroom().meters.authenticate(token.strip())
        return
    if getattr(view, _KIOSK, False):
        g.kiosk_key = current_postroom().kiosks.authenticate(token.strip())
        g.account = current_postroom().accounts.get(g.kiosk_key.customer_number)
        return
    g.account = current_postroom().accounts.authenticate(token.strip())


def _by_session() -> bool:
    """Authenticate by the portal session when there is one: it then needs the CSRF
    token, or a page of another site could make the browser call the API."""
    user = current_user()
    if user is None:
        return False
    if user.account_number is None:
        raise PermissionDenied(
            "staff sign in to the API with an API key", code="customer_account_required"
        )
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except WTFormsValidationError:
        raise PermissionDenied(
            "send the page's CSRF token as the X-CSRFToken header", code="csrf_failed"
        ) from None
    g.account = current_postroom().accounts.get(user.account_number)
    return True


def current_account() -> CustomerAccount:
    account: CustomerAccount = g.account
    return account


def current_kiosk_key() -> KioskKey:
    key: KioskKey = g.kiosk_key
    return key


def current_meter() -> Meter:
    meter: Meter = g.meter
    return meter
