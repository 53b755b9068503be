"""One hierarchy of domain errors, each with a stable machine-readable code.

Frontends map these to HTTP statuses, CLI exit codes and form messages; the
code never changes once published, so clients may branch on it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PostroomError(Exception):
    """Base of every error postroom raises on purpose."""

    code: ClassVar[str] = "postroom_error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ValidationError(PostroomError):
    code = "validation_error"
    http_status = 422


class NotFound(PostroomError):
    code = "not_found"
    http_status = 404


class Conflict(PostroomError):
    code = "conflict"
    http_status = 409


class InsufficientFunds(PostroomError):
    code = "insufficient_funds"
    http_status = 409


class Locked(PostroomError):
    code = "locked"
    http_status = 423


class PermissionDenied(PostroomError):
    code = "permission_denied"
    http_status = 403


class Unauthenticated(PostroomError):
    code = "unauthenticated"
    http_status = 401


class ConfigurationError(PostroomError):
    """The installation is misconfigured (bad URL, unwritable directory, missing secret)."""

    code = "configuration_error"
    http_status = 500


class StorageUnavailable(PostroomError):
    """The database cannot be reached or opened."""

    code = "storage_unavailable"
    http_status = 503


class DeviceError(PostroomError):
    """A device (meter, scale) failed to answer or answered wrongly."""

    code = "device_error"
    http_status = 502
