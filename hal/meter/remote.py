"""A remote data center: the sync conversation over HTTP(S) with a postroom server.

``RemoteDataCenter(server, meter_key)`` implements ``postroom.core.meters.sync.DataCenter``
by POSTing the conversation's JSON to ``/api/v1/meters/sync/begin`` and
``/api/v1/meters/sync/finish`` with the meter's own key as a bearer token. Standard
library only (urllib). A refusal of the server comes back as the PostroomError of its
code; a server that cannot be reached is ``datacenter_unavailable``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from postroom.core.errors import (
    Conflict,
    DeviceError,
    InsufficientFunds,
    Locked,
    NotFound,
    PermissionDenied,
    PostroomError,
    Unauthenticated,
    ValidationError,
)
from postroom.core.meters.sync import SyncPlan, SyncReport, SyncResults, SyncSummary

BEGIN = "/api/v1/meters/sync/begin"
FINISH = "/api/v1/meters/sync/finish"

_BY_STATUS: dict[int, type[PostroomError]] = {
    400: ValidationError,
    401: Unauthenticated,
    402: InsufficientFunds,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    423: Locked,
}


class DataCenterUnavailable(DeviceError):
    code = "datacenter_unavailable"
    http_status = 502


class RemoteDataCenter:
    """``sync.DataCenter`` of a postroom server at ``server`` (``https://host[:port]``)."""

    def __init__(self, server: str, meter_key: str, *, timeout: float = 60.0) -> None:
        parts = urlsplit(server.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(
                f"the server is an http(s) URL, not {server!r}", code="invalid_server_url"
            )
        if not meter_key.strip():
            raise ValidationError("a meter key is needed", code="invalid_meter_key")
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.meter_key = meter_key.strip()
        self.timeout = timeout

    def begin(self, report: SyncReport) -> SyncPlan:
        return SyncPlan.from_json(self._post(BEGIN, report.to_json()))

    def finish(self, results: SyncResults) -> SyncSummary:
        return SyncSummary.from_json(self._post(FINISH, results.to_json()))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            self.base + path,
            data=json.dumps(body).encode("utf-8"),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.meter_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise _refusal(error) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise DataCenterUnavailable(
                f"cannot reach the data center at {self.base}: {error}"
            ) from None


def _refusal(error: urllib.error.HTTPError) -> PostroomError:
    try:
        found = json.loads(error.read())["error"]
        code, message = str(found["code"]), str(found["message"])
    except (ValueError, KeyError, TypeError, OSError):
        code, message = "datacenter_error", f"the data center answered HTTP {error.code}"
    kind = _BY_STATUS.get(error.code)
    if kind is None:
        return DataCenterUnavailable(message, code=code)
    return kind(message, code=code)
