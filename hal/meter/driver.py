"""``MeterClient``: the host side of the meter command set over hal.framing.

Opens any ``serial.serial_for_url`` URL (device path, pty, ``socket://``, ``loop://``).
Replies that report money are checked against the device's public key: pinned by the
caller (``public_key_pem=``, as the data center knows it from registration) or fetched
on first use. Every money command carries a request id (``request_id=``, random when
not given), so a retry -- by the framing layer or by the caller in a new session with
the same id -- is never executed twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.errors import (
    Conflict,
    DeviceError,
    InsufficientFunds,
    Locked,
    PermissionDenied,
    PostroomError,
    ValidationError,
)
from postroom.core.meters.device import LoggedPiece, MeterRegisters, PrintedPiece, PrintJob
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money
from postroom.hal.framing import Client

CHUNK = 2048  # raw bytes per install_chunk (base64 keeps the frame under 4096)

_ERRORS: dict[str, type[PostroomError]] = {
    "insufficient_funds": InsufficientFunds,
    "meter_locked": Locked,
    "inspection_overdue": Locked,
    "piece_log_full": Locked,
    "ack_forged": PermissionDenied,
    "ack_beyond_log": Conflict,
    "token_forged": PermissionDenied,
    "token_wrong_meter": PermissionDenied,
    "token_replayed": Conflict,
    "request_id_reused": Conflict,
    "request_id_expired": Conflict,
    "transfer_out_of_order": Conflict,
    "no_transfer": Conflict,
}


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def new_request_id() -> str:
    return secrets.token_hex(8)


class MeterClient:
    """A connection to one meter; implements ``postroom.core.ports.MeterDevice``."""

    def __init__(self, client: Client, *, public_key_pem: str | None = None) -> None:
        self.client = client
        self._public_key: ec.EllipticCurvePublicKey | None = None
        if public_key_pem is not None:
            self._public_key = _load_public_key(public_key_pem)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        public_key_pem: str | None = None,
        baudrate: int = 115200,
        timeout: float = 0.5,
        retries: int = 3,
    ) -> MeterClient:
        client = Client.open(url, baudrate=baudrate, timeout=timeout, retries=retries)
        return cls(client, public_key_pem=public_key_pem)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> MeterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------

    def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one command; return the reply object or raise the device's refusal."""
        payload = canonical({"cmd": cmd, **fields})
        raw = self.client.request(payload)
        try:
            reply = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise DeviceError("meter reply is not JSON", code="device_protocol_error") from None
        if not isinstance(reply, dict) or "ok" not in reply:
            raise DeviceError("meter reply has no 'ok'", code="device_protocol_error")
        if not reply["ok"]:
            error = reply.get("error") or {}
            code = str(error.get("code", "device_refused"))
            message = str(error.get("message", "the meter refused"))
            raise _ERRORS.get(code, ValidationError)(message, code=code)
        return reply

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        if self._public_key is None:
            self._public_key = _load_public_key(self.public_key_pem())
        return self._public_key

    def _verify(self, signature: bytes, data: bytes) -> None:
        try:
            self.public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise DeviceError(
                "meter reply signature does not verify", code="signature_invalid"
            ) from None

    def _signed(self, reply: dict[str, Any]) -> dict[str, Any]:
        body = dict(reply)
        try:
            signature = bytes.fromhex(body.pop("sig"))
        except (KeyError, TypeError, ValueError):
            raise DeviceError("money reply is not signed", code="signature_invalid") from None
        self._verify(signature, canonical(body))
        return body

    def _registers(self, reply: dict[str, Any]) -> MeterRegisters:
        registers = MeterRegisters.from_device(reply["registers"])
        if not registers.balanced:
            raise DeviceError("meter registers do not balance", code="registers_unbalanced")
        return registers

    # -- the command set ------------------------------------------------------------

    def identify(self) -> Mapping[str, str]:
        reply = self.call("identify")
        return {k: str(reply[k]) for k in ("model", "serial", "firmware", "currency")}

    def public_key_pem(self) -> str:
        return str(self.call("public_key")["pem"])

    def registers(self) -> MeterRegisters:
        return self._registers(self._signed(self.call("registers")))

    def refill(self, token: bytes, *, request_id: str | None = None) -> MeterRegisters:
        reply = self.call("refill", rid=request_id or new_request_id(), token=token.hex())
        return self._registers(self._signed(reply))

    def print_postage(self, job: PrintJob, *, request_id: str | None = None) -> PrintedPiece:
        fields: dict[str, Any] = {
            "rid": request_id or new_request_id(),
            "mills": job.postage.mills,
            "currency": job.postage.currency,
            "rate_digest": job.rate_digest,
            "service": job.service,
            "date": job.mailing_date.isoformat(),
            "origin_zip": job.origin_zip,
        }
        if job.cost_center is not None:
            fields["cost_center"] = job.cost_center
        reply = self.call("print", **fields)
        try:
            record_bytes = base64.b64decode(reply["record"], validate=True)
            signature = base64.b64decode(reply["signature"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise DeviceError("print reply is malformed", code="device_protocol_error") from None
        self._verify(signature, record_bytes)
        record = IndiciumRecord.from_bytes(record_bytes)
        currency = record.postage.currency
        registers = MeterRegisters(
            serial=record.serial,
            descending=Money(record.descending, currency),
            ascending=Money(record.ascending, currency),
            pieces=record.piece,
            control=Money(record.ascending + record.descending, currency),
        )
        expected = (job.postage, job.mailing_date, job.origin_zip, job.service, job.rate_digest)
        actual = (
            record.postage,
            record.mailing_date,
            record.origin_zip,
            record.rate_category,
            record.rate_digest.hex(),
        )
        if expected != actual or record.piece != registers.pieces:
            raise DeviceError("indicium does not match the print job", code="indicium_mismatch")
        return PrintedPiece(record, record_bytes, signature, registers)

    def _install(self, kind: str, data: bytes, **fields: Any) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.call("install_begin", kind=kind, digest=digest, size=len(data), **fields)
        for offset in range(0, len(data), CHUNK):
            chunk = base64.b64encode(data[offset : offset + CHUNK]).decode()
            self.call("install_chunk", offset=offset, data=chunk)
        return str(self.call("install_end")["digest"])

    def install_rates(self, table: bytes) -> str:
        return self._install("rates", table)

    def install_firmware(self, image: bytes, version: str) -> str:
        return self._install("firmware", image, version=version)

    def install_graphics(self, name: str, image: bytes) -> str:
        return self._install("graphics", image, name=name)

    def set_features(self, features: Mapping[str, bool]) -> dict[str, bool]:
        return dict(self.call("set_features", features=dict(features))["features"])

    def lock(self, reason: str = "locked by operator") -> None:
        self.call("lock", reason=reason)

    def unlock(self) -> None:
        self.call("unlock")

    def diagnostics(self) -> Mapping[str, Any]:
        return dict(self.call("diagnostics")["diagnostics"])

    def piece_log(self, since: int = 0) -> list[LoggedPiece]:
        pieces: list[LoggedPiece] = []
        while True:
            reply = self.call("log", since=since)
            currency = self.identify()["currency"] if not pieces else pieces[0].postage.currency
            for p in reply["pieces"]:
                pieces.append(
                    LoggedPiece(
                        piece=int(p["piece"]),
                        postage=Money(int(p["mills"]), currency),
                        mailing_date=date.fromisoformat(p["date"]),
                        service=str(p["service"]),
                        origin_zip=str(p["origin_zip"]),
                        cost_center=p.get("cost_center"),
                        printed_at=datetime.fromisoformat(p["printed_at"]),
                        request_id=str(p["rid"]),
                    )
                )
            if not reply["more"] or not reply["pieces"]:
                return pieces
            since = pieces[-1].piece


def _load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ValidationError("not a PEM public key", code="invalid_public_key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValidationError("meter keys are ECDSA P-256", code="invalid_public_key")
    return key
