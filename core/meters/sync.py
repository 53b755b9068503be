"""The sync conversation between a meter's connect application and the data center.

The connect side (``postroom.hal.meter.connect``) talks to the device; the data
center (``pr.meters``) decides. Two calls, the same in process and over HTTP:

1. ``begin(report)``: the connect side sends what the device says of itself
   (identity, public key, its *signed* registers, diagnostics). The data center
   checks the signature against the key it pinned, and answers a ``SyncPlan``: the
   piece number to upload the log from, the reset tokens to apply in order (refills,
   or a zero-amount sync token that records the inspection), what to install (rate
   package, firmware, graphics: bytes and SHA-256), the features to set, and a lock.
2. ``finish(results)``: the connect side reports what the device did: the piece log
   since ``log_since``, each token's signed ``refill`` reply (or its refusal), the
   installs, and the final signed registers and diagnostics. The data center stores
   the pieces, records usage and applied tokens in the vault (each once), reconciles
   its registers with the device's and records the inspection. Its summary carries an
   acknowledgement of the pieces stored (``ack_token``), which the connect side then
   hands to the device so that it drops them from its log (``ack_log``).

Everything the data center records is idempotent, so a conversation cut at any
point is simply run again: tokens carry request ids derived from their sequence
(``token_request_id``), so the device answers an applied token with its stored,
signed reply instead of applying it twice.

This module is pure: the values, their JSON forms, the plan decision and the
signature check.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.errors import PermissionDenied, ValidationError

INSTALL_KINDS = ("rates", "firmware", "graphics")


def canonical(obj: Any) -> bytes:
    """The bytes a device signs: compact JSON, sorted keys, UTF-8 (docs/meter-protocol.md)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def token_request_id(sequence: int) -> str:
    """The device request id under which the token of ``sequence`` is applied: a resumed
    sync sends the same id, and the device answers with the reply it stored."""
    return f"prt-{sequence}"


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationError("not a PEM public key", code="invalid_public_key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValidationError("meter keys are ECDSA P-256", code="invalid_public_key")
    return key


def verify_signed(pem: str, reply: Mapping[str, Any]) -> dict[str, Any]:
    """The device reply ``reply`` without its ``sig``, once the signature verifies."""
    if not isinstance(reply, Mapping):
        raise ValidationError("a signed reply is an object", code="bad_request")
    body = {k: v for k, v in reply.items() if k != "sig"}
    try:
        signature = bytes.fromhex(str(reply["sig"]))
    except (KeyError, ValueError):
        raise PermissionDenied("the reply is not signed", code="signature_invalid") from None
    try:
        load_public_key(pem).verify(signature, canonical(body), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PermissionDenied(
            "the device signature does not verify", code="signature_invalid"
        ) from None
    return body


def _obj(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationError(f"{what} is a JSON object", code="bad_request")
    return data


def _str(data: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name!r} must be a string", code="bad_request")
    return value


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{name!r} must be a whole number", code="bad_request")
    return value


def _maybe_obj(data: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None:
        return None
    return dict(_obj(value, name))


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name, [])
    if not isinstance(value, list):
        raise ValidationError(f"{name!r} must be a list", code="bad_request")
    return value


# --------------------------------------------------------------------- begin


@attrs.frozen
class SyncReport:
    """What the connect side says of the device at the start of a sync."""

    identity: Mapping[str, str]  # model, serial, firmware, currency
    public_key_pem: str
    registers: Mapping[str, Any]  # the device's signed ``registers`` reply, as received
    diagnostics: Mapping[str, Any]

    @property
    def serial(self) -> str:
        return str(self.identity.get("serial", ""))

    def to_json(self) -> dict[str, Any]:
        return {
            "identity": dict(self.identity),
            "public_key_pem": self.public_key_pem,
            "registers": dict(self.registers),
            "diagnostics": dict(self.diagnostics),
        }

    @classmethod
    def from_json(cls, data: Any) -> SyncReport:
        data = _obj(data, "a sync report")
        identity = _obj(data.get("identity"), "identity")
        for name in ("model", "serial", "firmware", "currency"):
            _str(identity, name)
        return cls(
            identity={k: str(identity[k]) for k in ("model", "serial", "firmware", "currency")},
            public_key_pem=_str(data, "public_key_pem"),
            registers=dict(_obj(data.get("registers"), "registers")),
            diagnostics=dict(_obj(data.get("diagnostics"), "diagnostics")),
        )


@attrs.frozen
class TokenStep:
    sequence: int
    token: str  # text form (tokens.to_text)
    mills: int

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "token": self.token, "mills": self.mills}

    @classmethod
    def from_json(cls, data: Any) -> TokenStep:
        data = _obj(data, "a token step")
        return cls(_int(data, "sequence"), _str(data, "token"), _int(data, "mills"))


@attrs.frozen
class InstallStep:
    """Data the device is to install: it checks ``digest`` itself (``digest_mismatch``)."""

    kind: str
    digest: str
    data: bytes = attrs.field(repr=False)
    name: str = ""  # graphics
    version: str = ""  # firmware

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "digest": self.digest,
            "name": self.name,
            "version": self.version,
            "size": len(self.data),
            "data": base64.b64encode(self.data).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Any) -> InstallStep:
        data = _obj(data, "an install step")
        kind = _str(data, "kind")
        if kind not in INSTALL_KINDS:
            raise ValidationError(f"unknown install kind {kind!r}", code="bad_request")
        try:
            raw = base64.b64decode(_str(data, "data"), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("install data is base64", code="bad_request") from None
        return cls(
            kind,
            _str(data, "digest"),
            raw,
            _str(data, "name", optional=True) or "",
            _str(data, "version", optional=True) or "",
        )


@attrs.frozen
class SyncPlan:
    """The data center's answer to ``begin``: what this sync does, in order."""

    sync_id: str
    serial: str
    log_since: int
    tokens: tuple[TokenStep, ...] = ()
    installs: tuple[InstallStep, ...] = ()
    features: Mapping[str, bool] | None = None
    lock: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sync_id": self.sync_id,
            "serial": self.serial,
            "log_since": self.log_since,
            "tokens": [t.to_json() for t in self.tokens],
            "installs": [i.to_json() for i in self.installs],
            "features": None if self.features is None else dict(self.features),
            "lock": self.lock,
        }

    def outline(self) -> dict[str, Any]:
        """The plan without install bytes (what the sync journal keeps)."""
        data = self.to_json()
        for install in data["installs"]:
            del install["data"]
        return data

    @classmethod
    def from_json(cls, data: Any) -> SyncPlan:
        data = _obj(data, "a sync plan")
        features = _maybe_obj(data, "features")
        return cls(
            sync_id=_str(data, "sync_id"),
            serial=_str(data, "serial"),
            log_since=_int(data, "log_since"),
            tokens=tuple(TokenStep.from_json(t) for t in _list(data, "tokens")),
            installs=tuple(InstallStep.from_json(i) for i in _list(data, "installs")),
            features=None if features is None else {str(k): bool(v) for k, v in features.items()},
            lock=_str(data, "lock", optional=True),
        )


# -------------------------------------------------------------------- finish


@attrs.frozen
class TokenOutcome:
    """What the device answered to one token: ``applied`` with its signed reply, or the
    refusal ``code`` (``token_replayed``, ``token_expired``...), or ``not_attempted``."""

    sequence: int
    status: str  # applied, refused, not_attempted
    code: str | None = None
    reply: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "status": self.status,
            "code": self.code,
            "reply": None if self.reply is None else dict(self.reply),
        }

    @classmethod
    def from_json(cls, data: Any) -> TokenOutcome:
        data = _obj(data, "a token outcome")
        status = _str(data, "status")
        if status not in ("applied", "refused", "not_attempted"):
            raise ValidationError(f"unknown token status {status!r}", code="bad_request")
        return cls(
            _int(data, "sequence"),
            status,
            _str(data, "code", optional=True),
            _maybe_obj(data, "reply"),
        )


@attrs.frozen
class InstallOutcome:
    kind: str
    digest: str
    ok: bool
    name: str = ""
    code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "digest": self.digest,
            "ok": self.ok,
            "name": self.name,
            "code": self.code,
        }

    @classmethod
    def from_json(cls, data: Any) -> InstallOutcome:
        data = _obj(data, "an install outcome")
        ok = data.get("ok")
        if not isinstance(ok, bool):
            raise ValidationError("'ok' must be true or false", code="bad_request")
        return cls(
            _str(data, "kind"),
            _str(data, "digest"),
            ok,
            _str(data, "name", optional=True) or "",
            _str(data, "code", optional=True),
        )


@attrs.frozen
class SyncResults:
    """What the device did during the sync, reported to ``finish``."""

    sync_id: str
    pieces: tuple[Mapping[str, Any], ...] = ()  # device log entries (docs/meter-protocol.md)
    tokens: tuple[TokenOutcome, ...] = ()
    installs: tuple[InstallOutcome, ...] = ()
    features: Mapping[str, bool] | None = None
    locked: bool | None = None
    registers: Mapping[str, Any] | None = None  # final signed registers reply
    diagnostics: Mapping[str, Any] | None = None
    errors: tuple[str, ...] = ()  # steps the connect side could not complete

    def to_json(self) -> dict[str, Any]:
        return {
            "sync_id": self.sync_id,
            "pieces": [dict(p) for p in self.pieces],
            "tokens": [t.to_json() for t in self.tokens],
            "installs": [i.to_json() for i in self.installs],
            "features": None if self.features is None else dict(self.features),
            "locked": self.locked,
            "registers": None if self.registers is None else dict(self.registers),
            "diagnostics": None if self.diagnostics is None else dict(self.diagnostics),
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, data: Any) -> SyncResults:
        data = _obj(data, "sync results")
        locked = data.get("locked")
        if locked is not None and not isinstance(locked, bool):
            raise ValidationError("'locked' must be true, false or null", code="bad_request")
        features = _maybe_obj(data, "features")
        errors = _list(data, "errors")
        return cls(
            sync_id=_str(data, "sync_id"),
            pieces=tuple(dict(_obj(p, "a piece")) for p in _list(data, "pieces")),
            tokens=tuple(TokenOutcome.from_json(t) for t in _list(data, "tokens")),
            installs=tuple(InstallOutcome.from_json(i) for i in _list(data, "installs")),
            features=None if features is None else {str(k): bool(v) for k, v in features.items()},
            locked=locked,
            registers=_maybe_obj(data, "registers"),
            diagnostics=_maybe_obj(data, "diagnostics"),
            errors=tuple(str(e)[:500] for e in errors[:50]),
        )


@attrs.frozen
class SyncSummary:
    """What ``finish`` recorded."""

    sync_id: str
    serial: str
    pieces_uploaded: int
    usage_recorded_mills: int
    tokens_applied: tuple[int, ...]
    installed: tuple[str, ...]
    alerts: tuple[str, ...]
    reconciled: bool | None  # None: no final registers to compare
    inspection_due_at: str | None
    registers: Mapping[str, Any] | None = None
    # the data center has stored every piece up to ``acknowledged``: the connect side
    # hands ``ack_token`` (text form, ``tokens.to_text``) to the device (``ack_log``)
    acknowledged: int = 0
    ack_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sync_id": self.sync_id,
            "serial": self.serial,
            "acknowledged": self.acknowledged,
            "ack_token": self.ack_token,
            "pieces_uploaded": self.pieces_uploaded,
            "usage_recorded_mills": self.usage_recorded_mills,
            "tokens_applied": list(self.tokens_applied),
            "installed": list(self.installed),
            "alerts": list(self.alerts),
            "reconciled": self.reconciled,
            "inspection_due_at": self.inspection_due_at,
            "registers": None if self.registers is None else dict(self.registers),
        }

    @classmethod
    def from_json(cls, data: Any) -> SyncSummary:
        data = _obj(data, "a sync summary")
        reconciled = data.get("reconciled")
        return cls(
            sync_id=_str(data, "sync_id"),
            serial=_str(data, "serial"),
            pieces_uploaded=_int(data, "pieces_uploaded"),
            usage_recorded_mills=_int(data, "usage_recorded_mills"),
            tokens_applied=tuple(int(s) for s in _list(data, "tokens_applied")),
            installed=tuple(str(s) for s in _list(data, "installed")),
            alerts=tuple(str(s) for s in _list(data, "alerts")),
            reconciled=reconciled if isinstance(reconciled, bool) else None,
            inspection_due_at=_str(data, "inspection_due_at", optional=True),
            registers=_maybe_obj(data, "registers"),
            acknowledged=_int(data, "acknowledged") if "acknowledged" in data else 0,
            ack_token=_str(data, "ack_token", optional=True),
        )


class DataCenter(Protocol):
    """The data-center side of one meter's sync: in process (``pr.meters.datacenter``)
    or a remote postroom server (``postroom.hal.meter.remote.RemoteDataCenter``)."""

    def begin(self, report: SyncReport) -> SyncPlan: ...

    def finish(self, results: SyncResults) -> SyncSummary: ...


# ------------------------------------------------------------ plan decisions


@attrs.frozen
class Wanted:
    """What the data center wants on the device (its side of the plan decision)."""

    active: bool
    rates_digest: str | None = None  # the meter's current rate package
    firmware: str | None = None  # target version for the model
    features: Mapping[str, bool] = attrs.field(factory=dict)
    graphics: Mapping[str, str] = attrs.field(factory=dict)  # name -> digest


@attrs.frozen
class Decision:
    """Which steps a sync needs (``decide``); the service fills in the bytes."""

    apply_tokens: bool
    issue_sync_token: bool
    install_rates: bool
    install_firmware: bool
    graphics: tuple[str, ...]
    features: Mapping[str, bool] | None
    lock: str | None


WITHDRAWN_LOCK = "withdrawn by the data center"


def decide(wanted: Wanted, diagnostics: Mapping[str, Any], pending_tokens: int) -> Decision:
    """The steps a sync needs, from what the data center wants and what the device says.

    - an active meter applies its pending tokens; with none pending it gets a sync token
      (zero amount) so that every sync records an inspection;
    - installs only what differs from the device's report (rate package digest,
      firmware version, each graphic's digest), and sets only features that differ;
    - a withdrawn meter gets nothing but a lock (unless already locked).
    """
    if not wanted.active:
        locked = diagnostics.get("locked") is True
        return Decision(False, False, False, False, (), None, None if locked else WITHDRAWN_LOCK)
    device_graphics = diagnostics.get("graphics")
    if not isinstance(device_graphics, Mapping):
        device_graphics = {}
    device_features = diagnostics.get("features")
    if not isinstance(device_features, Mapping):
        device_features = {}
    features = {
        name: on for name, on in wanted.features.items() if device_features.get(name) is not on
    }
    return Decision(
        apply_tokens=pending_tokens > 0,
        issue_sync_token=pending_tokens == 0,
        install_rates=wanted.rates_digest is not None
        and diagnostics.get("rate_digest") != wanted.rates_digest,
        install_firmware=wanted.firmware is not None
        and diagnostics.get("firmware") != wanted.firmware,
        graphics=tuple(
            sorted(n for n, d in wanted.graphics.items() if device_graphics.get(n) != d)
        ),
        features=features or None,
        lock=None,
    )


def expected_control(amounts: Sequence[tuple[int, int, bool]], last_applied: int) -> int:
    """The device's control sum if it applied exactly the tokens up to ``last_applied``
    (``(sequence, mills, applied)`` of every issued token), none skipped."""
    return sum(mills for sequence, mills, _ in amounts if sequence <= last_applied)
