"""The terminal's data center over its JSON API (``/api/v1/kiosk``), authenticated by the
terminal's kiosk key. An error the data center answers comes back as the same domain
error (its code and message); no answer at all is ``DataCenterUnreachable``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

from postroom.core.errors import (
    Conflict,
    InsufficientFunds,
    Locked,
    NotFound,
    PermissionDenied,
    PostroomError,
    Unauthenticated,
    ValidationError,
)
from postroom.core.kiosks.model import KioskPiece, Notice, PieceReport
from postroom.core.meters.indicium_image import pack_symbol
from postroom.core.money import Money
from postroom.core.ports import ShipmentStatus
from postroom.core.units import Dimensions, Weight, fraction_to_decimal
from postroom.frontends.kiosk.backend import (
    LETTER,
    DataCenterUnreachable,
    MeterReport,
    MisprintAnswer,
    Offer,
    OfferExtra,
    OfferLine,
    OfferList,
    OperatorChoice,
    PieceSize,
    PrintedPiece,
    RefusedOffer,
    TerminalInfo,
    TrackedPiece,
)
from postroom.frontends.serialise.kiosks import (
    kiosk_piece_json,
    notice_from_json,
    piece_report_from_json,
)

#: Seconds to wait for the data center before the screen says it cannot be reached.
TIMEOUT = 10.0
#: The longest answer read (an indicium PNG is a few kilobytes).
MAX_ANSWER = 4 * 1024 * 1024

_BY_STATUS: dict[int, type[PostroomError]] = {
    400: ValidationError,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    423: Locked,
}


class DataCenterFailed(PostroomError):
    """The data center answered, but could not do it now (a print it released)."""

    code = "data_center_failed"
    http_status = 503


def check_server_url(url: str) -> str:
    """The data center's base URL (http or https), without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(
            f"the data center is an http(s) URL, not {url!r}", code="invalid_server_url"
        )
    return url.strip().rstrip("/")


def _money(data: dict[str, str]) -> Money:
    return Money.of(data["amount"], data["currency"])


class RemoteDataCenter:
    """``DataCenter`` over HTTP with the kiosk key ``key``."""

    def __init__(self, server: str, key: str, *, timeout: float = TIMEOUT) -> None:
        self._base = check_server_url(server) + "/api/v1/kiosk"
        self._key = key.strip()
        self._timeout = timeout

    def _call(
        self, method: str, path: str, body: object = None, *, operator: str | None = None
    ) -> tuple[bytes, str]:
        raw, media, _status = self._send(method, path, body, operator=operator)
        return raw, media

    def _send(
        self, method: str, path: str, body: object = None, *, operator: str | None = None
    ) -> tuple[bytes, str, int]:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if operator:
            headers["X-Kiosk-Operator"] = operator
        # the scheme is http(s), checked when the URL was given
        request = Request(self._base + path, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                raw = answer.read(MAX_ANSWER)
                return raw, answer.headers.get_content_type(), int(answer.status)
        except HTTPError as error:
            raise _domain_error(error) from None
        except (URLError, TimeoutError, OSError) as error:
            raise DataCenterUnreachable(
                f"the data center does not answer ({error})", code="data_center_unreachable"
            ) from None

    def _json(
        self, method: str, path: str, body: object = None, *, operator: str | None = None
    ) -> Any:
        raw, _type = self._call(method, path, body, operator=operator)
        return json.loads(raw) if raw else None

    def terminal(self) -> TerminalInfo:
        data = self._json("GET", "")
        account = data["account"]
        return TerminalInfo(
            account["number"],
            account["name"],
            account["country"],
            account["currency"],
            data["key"]["label"],
            tuple(data["cost_centers"]),
            tuple(OperatorChoice(int(o["id"]), o["name"]) for o in data["operators"]),
            int(data["idle_seconds"]),
        )

    def offers(self, weight: Weight, extras: Sequence[str], size: PieceSize = LETTER) -> OfferList:
        body: dict[str, object] = {
            "weight": _weight(weight),
            "extras": list(extras),
            "shape": size.shape,
        }
        if size.dimensions is not None:
            body["dimensions"] = dimensions_text(size.dimensions)
        data = self._json("POST", "/offers", body)
        return OfferList(
            tuple(
                Offer(
                    option["table"]["carrier"],
                    option["table"]["service"],
                    option["table"]["name"],
                    option["table"].get("delivery", ""),
                    _money(option["total"]),
                    tuple(
                        OfferLine(line["description"], _money(line["amount"]))
                        for line in option["lines"]
                    ),
                    str(option["table"].get("digest", "")),
                    tuple(
                        OfferExtra(extra["code"], extra["name"], _money(extra["price"]))
                        for extra in option.get("extras_offered", [])
                    ),
                )
                for option in data["options"]
            ),
            tuple(
                RefusedOffer(
                    str(r["carrier"]),
                    str(r["service"]),
                    str(r["code"]),
                    str(r["message"]),
                    str(r.get("limit", "")),
                    str(r.get("dimension", "")),
                    str(r.get("bound", "")),
                    str(r.get("name", "")),
                )
                for r in data.get("refused", [])
            ),
        )

    def sign_in(self, operator_id: int, pin: str) -> str:
        data = self._json("POST", "/session", {"operator": operator_id, "pin": pin})
        return str(data["token"])

    def operator(self, token: str) -> OperatorChoice:
        data = self._json("GET", "/session", operator=token)["operator"]
        return OperatorChoice(int(data["id"]), data["name"], tuple(data.get("cost_centers", ())))

    def sign_out(self, token: str) -> None:
        self._call("DELETE", "/session", operator=token)

    def print_postage(
        self,
        token: str,
        carrier: str,
        service: str,
        weight: Weight,
        extras: Sequence[str],
        cost_center: str | None,
        idempotency_key: str,
        origin_zip: str,
    ) -> PrintedPiece:
        body = {
            "carrier": carrier,
            "service": service,
            "weight": _weight(weight),
            "extras": list(extras),
            "cost_center": cost_center,
            "origin_zip": origin_zip,
            "idempotency_key": idempotency_key,
        }
        data = self._json("POST", "/postage", body, operator=token)
        return PrintedPiece(
            data["serial"],
            int(data["piece"]),
            _money(data["postage"]),
            data["carrier"],
            data["service"],
            data["cost_center"],
            pack_symbol(bytes.fromhex(data["payload"]), bytes.fromhex(data["signature"])),
        )

    def indicium_png(self, serial: str, piece: int) -> bytes:
        raw, media = self._call(
            "GET", f"/postage/{quote(serial, safe='')}/{int(piece)}/indicium.png"
        )
        if media != "image/png":
            raise DataCenterUnreachable("the data center answered no image")
        return raw

    def record_meter_pieces(self, token: str, reports: Sequence[MeterReport]) -> None:
        for report in reports:
            body = {
                "record": report.record.hex(),
                "signature": report.signature.hex(),
                "carrier": report.carrier,
                "cost_center": report.cost_center,
                "request_id": report.request_id,
            }
            self._call("POST", "/meter-pieces", body, operator=token)

    def flag_misprint(self, token: str, serial: str, piece: int) -> MisprintAnswer:
        body = {"serial": serial, "piece": int(piece)}
        data = self._json("POST", "/misprints", body, operator=token)
        return MisprintAnswer(str(data["status"]), data.get("refund_id"))

    def sign_in_badge(self, badge: str) -> str:
        data = self._json("POST", "/session/badge", {"badge": badge[:64]})
        return str(data["token"])

    def log_piece(self, piece: KioskPiece) -> bool:
        body = kiosk_piece_json(piece)
        del body["terminal"]  # the data center names the terminal by its key
        _raw, _media, status = self._send("POST", "/pieces", body)
        return status == 201

    def report(self) -> PieceReport:
        return piece_report_from_json(self._json("GET", "/report"))

    def track(self, number: str) -> TrackedPiece:
        data = self._json("GET", f"/tracking/{quote(number.strip()[:64], safe='')}")
        delivered = data.get("delivered_at")
        return TrackedPiece(
            data["number"],
            data["carrier"],
            ShipmentStatus(data["status"]),
            None if delivered is None else datetime.fromisoformat(delivered),
        )

    def open_case(self, operator: str, subject: str, description: str, idempotency_key: str) -> str:
        body = {
            "operator_name": operator,
            "subject": subject,
            "description": description,
            "idempotency_key": idempotency_key,
        }
        return str(self._json("POST", "/cases", body)["number"])

    def notices(self) -> list[Notice]:
        return [notice_from_json(item) for item in self._json("GET", "/notices")["notices"]]


def dimensions_text(dimensions: Dimensions) -> str:
    """``30x20x10cm``: exactly the lengths keyed in, in their unit (as the API reads them)."""
    unit = dimensions.unit
    values = (fraction_to_decimal(v, 4).normalize() for v in dimensions.to(unit))
    return "x".join(f"{v:f}" for v in values) + unit.value


def _weight(weight: Weight) -> dict[str, str]:
    return weight.json()


def _domain_error(error: HTTPError) -> PostroomError:
    """The data center's ``{"error": {"code", "message", "details"}}`` as a domain error."""
    try:
        body = json.loads(error.read(MAX_ANSWER))["error"]
        code, message = str(body["code"]), str(body["message"])
        details = body.get("details") or {}
    except (ValueError, KeyError, TypeError):
        return DataCenterUnreachable(f"the data center answered {error.code} without an error body")
    kind = _BY_STATUS.get(error.code, PostroomError)
    if code == "insufficient_funds":
        kind = InsufficientFunds
    if error.code >= 500:
        kind = DataCenterFailed
    return kind(message, code=code, **(details if isinstance(details, dict) else {}))
