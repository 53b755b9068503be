"""Operators' side of the web app: a request id and one access-log line per request, and
``/metrics`` (Prometheus) for loopback clients or a bearer token.

The id comes from the client's ``X-Request-ID`` when it is a plain token (a proxy's), else
it is made here; it goes back in the response's ``X-Request-ID`` and into the log line,
so a customer's report, a proxy's log and ours name the same request.
"""

from __future__ import annotations

import re
import time
import uuid

from flask import Blueprint, Flask, Response, g, request

from postroom.frontends.observability import metrics_text, request_answered
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.operators import operator_request

bp = Blueprint("operations", __name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def _begin() -> None:
    offered = request.headers.get("X-Request-ID", "")
    g.request_id = offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _answered(response: Response) -> Response:
    started = g.pop("request_started", None)
    if started is None:  # a request that failed before it began (nothing to time)
        return response
    response.headers["X-Request-ID"] = g.request_id
    rule = request.url_rule
    request_answered(
        method=request.method,
        path=request.path,
        endpoint=rule.rule if rule is not None else "unmatched",
        status=response.status_code,
        seconds=time.perf_counter() - started,
        request_id=g.request_id,
        remote=request.remote_addr,
    )
    return response


@bp.get("/metrics")
def metrics() -> tuple[Response, int]:
    """Who may call it: a client on loopback that came straight to postroom, or one with
    ``Authorization: Bearer <POSTROOM_METRICS_TOKEN>``; anyone else gets 404."""
    if not operator_request(current_postroom().config.metrics_token):
        return Response("not found\n", mimetype="text/plain"), 404
    response = Response(metrics_text(current_postroom()), mimetype="text/plain; version=0.0.4")
    response.headers["Cache-Control"] = "no-store"
    return response, 200


def init_app(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_answered)
    app.register_blueprint(bp)
