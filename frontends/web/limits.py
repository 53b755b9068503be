"""Rate limits (Flask-Limiter): the JSON API per API key and per client address, kiosk
prints per kiosk, and public tracking look-ups per client address.

The limits are settings (``api_rate_limit_per_key``, ``api_rate_limit_per_address``,
``kiosk_print_rate_limit``). Their counters live in Redis when ``POSTROOM_REDIS_URL`` is
set, so that every ``postroom serve`` process behind a proxy counts together, and in
the process otherwise. A request past a limit answers 429 ``rate_limited`` with
``Retry-After``: JSON under /api/, a page elsewhere. The client address is the one the
WSGI server sees; behind a proxy, wrap the app in ``werkzeug.middleware.proxy_fix``.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, Response, request
from flask_babel import gettext as _
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import parse_many

from postroom.core.config import Config
from postroom.core.errors import ConfigurationError
from postroom.frontends.web.errors import API_PREFIX, error_response

log = logging.getLogger(__name__)

KIOSK_PRINT_ENDPOINT = "kiosk.print_postage"
#: the public tracking page: a look-up per request (tracking_pages.LOOKUP_ENDPOINT)
TRACK_LOOKUP_ENDPOINT = "tracking_pages.lookup"


def client_address() -> str:
    return request.remote_addr or "unknown"


def _bearer() -> str:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def api_key_id() -> str:
    """The public part of the request's key (``prk_<prefix>``): one counter per key, and
    the secret never reaches the counters' store."""
    return "_".join(_bearer().split("_", 2)[:2])


def _not_api() -> bool:
    return not request.path.startswith(API_PREFIX)


def _not_api_with_key() -> bool:
    return _not_api() or not _bearer()


def _not_kiosk_print() -> bool:
    return request.endpoint != KIOSK_PRINT_ENDPOINT or request.method != "POST"


#: Questions to the virtual assistant's page and new chats, per client address: each
#: costs a search and the intent matching (about 15 ms), so a flood is refused early
#: (a chat's own messages are limited per conversation by the chat itself).
ASSISTANT_RATE_LIMIT = "30/minute"
ASSISTANT_ENDPOINTS = frozenset({"help.ask", "chat.start"})


def _not_assistant_question() -> bool:
    return request.endpoint not in ASSISTANT_ENDPOINTS or request.method != "POST"


def _not_track_lookup() -> bool:
    return request.endpoint != TRACK_LOOKUP_ENDPOINT or "number" not in request.args


def _checked(setting: str, value: str) -> str:
    try:
        parse_many(value)
    except ValueError as error:
        raise ConfigurationError(
            f"{setting} {value!r} is not a rate limit such as '600/minute'"
        ) from error
    return value


def init_app(app: Flask, config: Config) -> Limiter:
    if config.production and not config.redis_url:
        log.warning(
            "rate limits are counted per process: set POSTROOM_REDIS_URL so that every "
            "server process counts together"
        )
    limiter = Limiter(
        client_address,
        app=app,
        storage_uri=config.redis_url or "memory://",
        application_limits=[
            ApplicationLimit(
                _checked("api_rate_limit_per_address", config.api_rate_limit_per_address),
                key_function=client_address,
                scope="api-address",
                exempt_when=_not_api,
            ),
            ApplicationLimit(
                _checked("api_rate_limit_per_key", config.api_rate_limit_per_key),
                key_function=api_key_id,
                scope="api-key",
                exempt_when=_not_api_with_key,
            ),
            ApplicationLimit(
                _checked("track_lookup_rate_limit", config.track_lookup_rate_limit),
                key_function=client_address,
                scope="track-lookup",
                exempt_when=_not_track_lookup,
            ),
            ApplicationLimit(
                _checked("kiosk_print_rate_limit", config.kiosk_print_rate_limit),
                key_function=client_address,
                scope="kiosk-print",
                exempt_when=_not_kiosk_print,
            ),
            ApplicationLimit(
                ASSISTANT_RATE_LIMIT,
                key_function=client_address,
                scope="assistant",
                exempt_when=_not_assistant_question,
            ),
        ],
        key_prefix="postroom-limits",
        # Redis unreachable: count in the process meanwhile, never answer a 500 for it
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded) -> tuple[Response | str, int]:
        breached = limiter.current_limit
        # the window's end by the counters' own clock (the `limits` library's wall time)
        wait = 1 if breached is None else max(1, math.ceil(breached.reset_at - time.time()))
        response, status = error_response(
            429,
            "rate_limited",
            _("Too many requests: try again in %(seconds)s s.", seconds=wait),
        )
        if isinstance(response, str):
            response = Response(response, status=status, mimetype="text/html")
        response.headers["Retry-After"] = str(wait)
        return response, status

    return limiter
