"""The meters' JSON API under /api/v1/meters.

- The data center's side of the sync conversation, authenticated by the **meter's
  own key** (``prm_...``, issued at registration): ``POST /meters/sync/begin`` and
  ``POST /meters/sync/finish`` (``postroom.core.meters.sync``; docs/meters.md).
- A customer's own meters, with a customer API key: ``GET /meters`` and
  ``GET /meters/{serial}``; another customer's meter answers 404 like a missing one.
  ``POST /meters/{serial}/refunds`` asks back pieces by number from the uploaded piece log.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from postroom.core.meters.service import MetersService
from postroom.core.meters.sync import SyncReport, SyncResults
from postroom.frontends.serialise.refunds import refund_json
from postroom.frontends.web.auth import current_account, current_meter, meter_key_required
from postroom.frontends.web.context import current_postroom
from postroom.frontends.web.requestbody import request_object

bp = Blueprint("api_meters", __name__, url_prefix="/api/v1/meters")


def _meters() -> MetersService:
    return current_postroom().meters


@bp.post("/sync/begin")
@meter_key_required
def sync_begin() -> Response:
    report = SyncReport.from_json(request_object())
    return jsonify(_meters().begin_sync(current_meter().serial, report).to_json())


@bp.post("/sync/finish")
@meter_key_required
def sync_finish() -> Response:
    results = SyncResults.from_json(request_object())
    return jsonify(_meters().finish_sync(current_meter().serial, results).to_json())


@bp.get("")
def list_meters() -> Response:
    return jsonify({"items": current_postroom().meter_views.list(current_account().number)})


@bp.get("/<serial>")
def show_meter(serial: str) -> Response:
    meter = _meters().customer_meter(current_account().number, serial)
    return jsonify(current_postroom().meter_views.details(meter.serial))


@bp.post("/<serial>/refunds")
def request_refund(serial: str) -> tuple[Response, int]:
    data = request_object()
    done = current_postroom().refunds.request_logged(
        current_account().number,
        data["id"],
        serial,
        data["pieces"],
        data["reason"],
        note=data.get("note", ""),
    )
    return jsonify(refund_json(done)), 200 if done.replayed else 201
