"""A virtual postal security device (PSD): the secure heart of a postage meter.

It holds the registers (descending: funds left; ascending: postage ever printed;
piece count; control sum = every refill = ascending + descending), applies reset
tokens at most once, debits and signs each printed piece, and refuses to print when
locked, out of funds, overdue for inspection or without the rate table named.

Durability: a print is one record appended to the piece log (``pieces.log``: length,
CRC-32, payload; fsync'd) holding the piece, the registers after its debit, and the
request id, digest and reply of the print. That record *is* the commit: it is whole
on disk or not at all, so the registers and the log cannot disagree. Every other change
(refill, lock, install, an acknowledgement of the log...) is one ``atomic_write`` of the
state file (``state.json``): a checkpoint of the registers, settings and the replies to
recent money commands by request id. Loading reads the checkpoint and replays the log
records after it; a record torn by a crash is the tail of the log and was never
committed (its reply was not sent), so it is dropped. After a power cut at any point a
retried command is either executed for the first time or answered from the stored
reply: no postage is lost, no piece counted twice. The ECDSA P-256 key
(``psd-key.pem``) is generated on first start.

``Psd.handle(request) -> reply`` takes and returns the JSON objects of the meter
command set (docs/meter-protocol.md); it is transport-free so tests drive it directly.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.clock import Clock, SystemClock
from postroom.core.errors import (
    ConfigurationError,
    Conflict,
    InsufficientFunds,
    Locked,
    PermissionDenied,
    PostroomError,
    ValidationError,
)
from postroom.core.meters import tokens
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money
from postroom.hal.meter.store import (
    Fault,
    LogDamaged,
    _no_fault,
    append_record,
    atomic_write,
    encode_record,
    read_records,
    truncate,
)

MODEL = "postroom-vpsd-1"
FIRMWARE = "1.0.0"
STATE_FILE = "state.json"
LOG_FILE = "pieces.log"
KEY_FILE = "psd-key.pem"
SECRET_FILE = "meter-secret.key"  # noqa: S105 - a file name
REMEMBERED_REQUESTS = 256  # replies of money commands kept for retries
LOG_CAPACITY = 10_000  # pieces kept until the data center acknowledges them (default)
RETIRED_RIDS = 1024  # request ids of acknowledged pieces still refused as expired
MAX_LOG_REPLY = 20  # pieces in one page of the ``log`` reply
LOG_PAGE_BYTES = 3072  # ... and at most this many bytes of them (the frame limit is 4096)
MAX_TRANSFER = 4 * 1024 * 1024
_RID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_FEATURES = 64
RATE_TABLES_KEPT = 32  # installed rate tables a print may name (one per carrier service)


@attrs.frozen
class _Logged:
    """A piece in the log: its entry (what ``log`` returns) and its record as stored."""

    piece: int
    entry: dict[str, Any]
    payload: bytes = attrs.field(repr=False)


def _corrupt(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"device state {path} is unreadable: {why}", code="device_state_corrupt"
    )


def _remember(state: dict[str, Any], rid: str, digest: str, reply: dict[str, Any]) -> None:
    """Keep the reply of request ``rid`` in ``state``: the last REMEMBERED_REQUESTS ones."""
    requests = dict(state["requests"])
    requests[rid] = {"digest": digest, "reply": reply}
    while len(requests) > REMEMBERED_REQUESTS:
        del requests[next(iter(requests))]
    state["requests"] = requests


def _load_log(folder: Path, state: dict[str, Any]) -> list[_Logged]:
    """The piece log of the device in ``folder``; replays onto the checkpoint ``state``
    the prints committed after it (their records hold the registers and reply)."""
    path = folder / LOG_FILE
    inline = state.pop("log", None)  # state files before the append-only log held it
    if not path.exists():
        acked = state.get("log_acked", 0)
        moved = [canonical({"entry": e}) for e in inline or () if e["piece"] > acked]
        atomic_write(path, b"".join(encode_record(p) for p in moved))
        if inline is not None:
            atomic_write(folder / STATE_FILE, canonical(state))
    try:
        payloads, whole = read_records(path)
    except LogDamaged as damage:
        raise _corrupt(path, str(damage)) from None
    if whole < path.stat().st_size:
        truncate(path, whole)  # a print cut by a crash: never committed, never answered
    log: list[_Logged] = []
    acked = state.get("log_acked", 0)
    for payload in payloads:
        try:
            record = json.loads(payload)
            entry = record["entry"]
            piece = int(entry["piece"])
        except (ValueError, KeyError, TypeError):
            raise _corrupt(path, "a piece record is not readable") from None
        if piece <= acked:
            continue  # acknowledged; the file is compacted at the next acknowledgement
        if log and piece <= log[-1].piece:
            raise _corrupt(path, f"piece {piece} out of order")
        if piece > state["pieces"]:  # committed after the checkpoint: replay it
            try:
                mills, after = int(entry["mills"]), record["registers"]
                replayed = (state["ascending"] + mills, state["descending"] - mills)
                if piece != state["pieces"] + 1 or replayed != (
                    after["ascending"],
                    after["descending"],
                ):
                    raise ValueError(piece)
                _remember(state, str(entry["rid"]), record["digest"], record["reply"])
            except (ValueError, KeyError, TypeError):
                raise _corrupt(path, f"piece {piece} does not follow the registers") from None
            state["ascending"], state["descending"] = replayed
            state["pieces"] = piece
        log.append(_Logged(piece, entry, payload))
    return log


class DeviceReset(BaseException):
    """The device lost power or rebooted in the middle of a command (fault injection)."""


def canonical(obj: Any) -> bytes:
    """The signed bytes of a reply: compact JSON, sorted keys, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def table_digests(package: bytes) -> list[str]:
    """The digest of each rate table inside a data center's rate package (``{"carrier":
    ..., "tables": [canonical table, ...]}``): SHA-256 of the table's canonical JSON, the
    digest the data center publishes it under. A document of another shape holds none."""
    try:
        document = json.loads(package)
    except (ValueError, RecursionError):
        return []
    tables = document.get("tables") if isinstance(document, dict) else None
    if not isinstance(tables, list):
        return []
    return [
        hashlib.sha256(
            json.dumps(table, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        for table in tables
        if isinstance(table, dict)
    ]


@attrs.define
class InspectionPolicy:
    due_after: timedelta = timedelta(days=90)
    lock_after: timedelta = timedelta(days=120)


@attrs.define
class PsdFaults:
    """Device-level faults: a reset before or after the print's state is committed."""

    reset_before_commit: int = 0
    reset_after_commit: int = 0


@attrs.define
class _Transfer:
    kind: str
    name: str
    version: str
    digest: str
    size: int
    data: bytearray = attrs.field(factory=bytearray)


def _bad(message: str, code: str = "bad_request") -> ValidationError:
    return ValidationError(message, code=code)


def _field(request: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
    value = request.get(name)
    if value is None and not required:
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _bad(f"{name!r} must be an integer")
    if not isinstance(value, kind):
        raise _bad(f"{name!r} must be a {kind.__name__}")
    return value


class Psd:
    """One postal security device, persisted under ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        state: dict[str, Any],
        key: ec.EllipticCurvePrivateKey,
        log: list[_Logged],
        *,
        clock: Clock,
        policy: InspectionPolicy,
        fault: Fault,
        log_capacity: int = LOG_CAPACITY,
    ) -> None:
        if log_capacity < 1:
            raise ValidationError("the piece log holds at least one piece", code="bad_request")
        self.log_capacity = log_capacity
        self.state_dir = state_dir
        self.state = state
        self.log = log  # the pieces not yet acknowledged by the data center, in order
        self._log_rids = {str(p.entry["rid"]) for p in log}
        self.key = key
        self.clock = clock
        self.policy = policy
        self.fault = fault
        self.faults = PsdFaults()
        self.transfer: _Transfer | None = None
        self.started = clock.now()
        self.executed = 0
        self.refused = 0
        self.check_invariant()

    # -- life cycle ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        state_dir: Path | str,
        serial: str | None = None,
        *,
        currency: str = "USD",
        clock: Clock | None = None,
        policy: InspectionPolicy | None = None,
        fault: Fault = _no_fault,
        meter_key: bytes | None = None,
        log_capacity: int = LOG_CAPACITY,
    ) -> Psd:
        """Load the device in ``state_dir``, creating it (key, secret, state) on first start.

        ``serial`` is required on first start; later it must match the device's
        (``serial_mismatch``). ``meter_key`` is the HMAC key shared with the data center
        for reset tokens: provisioned on first start (a random one is generated into
        ``meter-secret.key`` when absent); later it must match (``meter_key_mismatch``).
        ``log_capacity`` is how many pieces the device keeps until the data center
        acknowledges them; a print beyond it is refused (``piece_log_full``).
        """
        clock = clock or SystemClock()
        folder = Path(state_dir)
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / KEY_FILE
        if key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise PostroomError("device key is not an EC key", code="device_key_invalid")
            key = loaded
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            atomic_write(key_path, pem)
        secret_path = folder / SECRET_FILE
        if meter_key is not None:
            if not secret_path.exists():
                atomic_write(secret_path, meter_key.hex().encode())
            elif secret_path.read_bytes().strip() != meter_key.hex().encode():
                raise ConfigurationError(
                    f"meter in {folder} was provisioned with another key",
                    code="meter_key_mismatch",
                )
        elif not secret_path.exists():
            atomic_write(secret_path, secrets.token_bytes(32).hex().encode())
        state_path = folder / STATE_FILE
        if state_path.exists():
            try:
                state = json.loads(state_path.read_bytes())
                str(state["serial"]), int(state["control"])
            except (ValueError, KeyError, TypeError):
                raise ConfigurationError(
                    f"device state {state_path} is unreadable", code="device_state_corrupt"
                ) from None
            if serial is not None and serial != state["serial"]:
                raise ConfigurationError(
                    f"{folder} holds meter {state['serial']}, not {serial}",
                    code="serial_mismatch",
                )
        else:
            if serial is None:
                raise ValidationError("a new meter needs a serial", code="invalid_serial")
            tokens.check_serial(serial)
            Money(0, currency)
            state = {
                "serial": serial,
                "model": MODEL,
                "currency": currency,
                "firmware": FIRMWARE,
                "descending": 0,
                "ascending": 0,
                "pieces": 0,
                "control": 0,
                "last_token_sequence": 0,
                "last_sync": clock.now().isoformat(),
                "locked": False,
                "lock_reason": "",
                "features": {},
                "graphics": {},
                "rate_digest": None,
                "rate_digests": [],
                "log_acked": 0,
                "retired_rids": [],
                "requests": {},
            }
            atomic_write(state_path, canonical(state))
        log = _load_log(folder, state)
        return cls(
            folder,
            state,
            key,
            log,
            clock=clock,
            policy=policy or InspectionPolicy(),
            fault=fault,
            log_capacity=log_capacity,
        )

    def reopen(self) -> Psd:
        """A fresh device from what is on disk (after a reset or power cut)."""
        return Psd.open(
            self.state_dir,
            clock=self.clock,
            policy=self.policy,
            fault=self.fault,
            log_capacity=self.log_capacity,
        )

    @property
    def serial(self) -> str:
        return str(self.state["serial"])

    @property
    def meter_key(self) -> bytes:
        return bytes.fromhex((self.state_dir / SECRET_FILE).read_text().strip())

    def public_key_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def check_invariant(self) -> None:
        s = self.state
        if (
            s["ascending"] + s["descending"] != s["control"]
            or min(s["ascending"], s["descending"], s["pieces"]) < 0
        ):
            raise AssertionError(f"register invariant broken: {self.registers()}")

    def _append(self, new_state: dict[str, Any], piece: _Logged) -> None:
        """Commit a print: append its record to the piece log, then make ``new_state``
        (the registers and replies the record holds) the device's state."""
        self._check(new_state)
        append_record(self.state_dir / LOG_FILE, piece.payload, self.fault)
        self.state = new_state
        self.log.append(piece)
        self._log_rids.add(str(piece.entry["rid"]))

    def _check(self, new_state: dict[str, Any]) -> None:
        saved = self.state
        self.state = new_state
        try:
            self.check_invariant()
        finally:
            self.state = saved

    def _commit(self, new_state: dict[str, Any]) -> None:
        """Persist ``new_state`` atomically (a checkpoint), then make it the device's state."""
        self._check(new_state)
        atomic_write(self.state_dir / STATE_FILE, canonical(new_state), self.fault)
        self.state = new_state

    # -- views ----------------------------------------------------------------------

    def registers(self) -> dict[str, Any]:
        s = self.state
        return {
            "serial": s["serial"],
            "currency": s["currency"],
            "descending": s["descending"],
            "ascending": s["ascending"],
            "pieces": s["pieces"],
            "control": s["control"],
        }

    def inspection(self) -> dict[str, Any]:
        last = datetime.fromisoformat(self.state["last_sync"])
        now = self.clock.now()
        due, lock = last + self.policy.due_after, last + self.policy.lock_after
        status = "overdue" if now >= lock else "due" if now >= due else "ok"
        return {
            "last_sync": last.isoformat(),
            "due_at": due.isoformat(),
            "lock_at": lock.isoformat(),
            "status": status,
        }

    def rate_digests(self) -> list[str]:
        """The digests of the installed rate tables, oldest first (the last is ``rate_digest``)."""
        s = self.state
        digests = [str(d) for d in s.get("rate_digests", [])]  # absent in 1.0 state files
        latest = s["rate_digest"]
        return digests if latest is None or latest in digests else [*digests, str(latest)]

    def rate_table_digests(self) -> list[str]:
        """The digests of the single tables inside the installed rate packages: a print
        names the table that priced it (the identifier ``postroom rates show`` knows)."""
        inside: dict[str, list[str]] = self.state.get("rate_tables", {})  # absent before 1.2
        return [d for package in self.rate_digests() for d in inside.get(package, [])]

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def _signed(self, reply: dict[str, Any]) -> dict[str, Any]:
        reply["sig"] = self.sign(canonical(reply)).hex()
        return reply

    # -- the command set ----------------------------------------------------------

    def handle(self, request: Any) -> dict[str, Any]:
        """Execute one command; domain refusals come back as ``{"ok": false, "error": ...}``."""
        try:
            if not isinstance(request, dict):
                raise _bad("a request is a JSON object")
            command = request.get("cmd")
            method: Callable[[dict[str, Any]], dict[str, Any]] | None = (
                getattr(self, f"_cmd_{command}", None)
                if isinstance(command, str) and command.isidentifier()
                else None
            )
            if method is None:
                raise _bad(f"unknown command {command!r}", "unknown_command")
            reply = method(request)
            self.executed += 1
            return reply
        except PostroomError as error:
            self.refused += 1
            return {"ok": False, "error": {"code": error.code, "message": error.message}}
        finally:
            self.check_invariant()

    def handle_bytes(self, payload: bytes) -> bytes:
        try:
            request = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            request = None
        if request is None:
            reply: dict[str, Any] = {
                "ok": False,
                "error": {"code": "bad_request", "message": "payload is not JSON"},
            }
        else:
            reply = self.handle(request)
        return canonical(reply)

    def _remembered(self, request: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
        rid = request.get("rid")
        if not isinstance(rid, str) or not _RID.fullmatch(rid):
            raise _bad(
                "money commands carry a request id 'rid' (1-64 of A-Z a-z 0-9 . _ : -)",
                "invalid_request_id",
            )
        body = {k: v for k, v in request.items() if k != "rid"}
        digest = hashlib.sha256(canonical(body)).hexdigest()
        seen = self.state["requests"].get(rid)
        if seen is None:
            if rid in self._log_rids or rid in self.state.get("retired_rids", ()):
                # printed so long ago that its reply is forgotten: never print it again
                raise Conflict(
                    f"request id {rid} was executed long ago; its reply is no longer kept",
                    code="request_id_expired",
                )
            return rid, digest, None
        if seen["digest"] != digest:
            raise Conflict(
                f"request id {rid} was used for another request", code="request_id_reused"
            )
        return rid, digest, dict(seen["reply"])

    def _cmd_identify(self, request: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        return {
            "ok": True,
            "model": s["model"],
            "serial": s["serial"],
            "firmware": s["firmware"],
            "currency": s["currency"],
            "protocol": 1,
        }

    def _cmd_public_key(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "pem": self.public_key_pem()}

    def _cmd_registers(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._signed(
            {"ok": True, "registers": self.registers(), "at": self.clock.now().isoformat()}
        )

    def _cmd_refill(self, request: dict[str, Any]) -> dict[str, Any]:
        rid, digest, seen = self._remembered(request)
        if seen is not None:
            return seen
        token_hex = _field(request, "token", str)
        try:
            raw = bytes.fromhex(token_hex)
        except ValueError:
            raise _bad("token must be hex", "token_malformed") from None
        token = tokens.verify(
            self.meter_key,
            raw,
            self.serial,
            self.clock.now(),
            last_sequence=self.state["last_token_sequence"],
        )
        if token.amount.currency != self.state["currency"]:
            raise _bad("token currency differs from the meter's", "currency_mismatch")
        new = dict(self.state)
        new["descending"] += token.amount.mills
        new["control"] += token.amount.mills
        new["last_token_sequence"] = token.sequence
        new["last_sync"] = self.clock.now().isoformat()
        reply = self._signed(
            {
                "ok": True,
                "applied": {
                    "serial": token.serial,
                    "sequence": token.sequence,
                    "mills": token.amount.mills,
                },
                "registers": {k: new[k] for k in self.registers()},
                "at": new["last_sync"],  # the device's clock: when it applied the token
            }
        )
        _remember(new, rid, digest, reply)
        self._commit(new)
        return reply

    def _cmd_print(self, request: dict[str, Any]) -> dict[str, Any]:
        rid, digest, seen = self._remembered(request)
        if seen is not None:
            return seen
        s = self.state
        mills = _field(request, "mills", int)
        currency = _field(request, "currency", str)
        rate_digest = _field(request, "rate_digest", str)
        service = _field(request, "service", str)
        origin_zip = _field(request, "origin_zip", str)
        cost_center = _field(request, "cost_center", str, required=False)
        try:
            mailing = date.fromisoformat(_field(request, "date", str))
        except ValueError:
            raise _bad("date must be YYYY-MM-DD", "invalid_mailing_date") from None
        if mills <= 0 or mills >= 2**32:
            raise _bad("postage must be positive", "invalid_amount")
        if currency != s["currency"]:
            raise _bad("postage currency differs from the meter's", "currency_mismatch")
        if s["locked"]:
            raise Locked(f"meter is locked: {s['lock_reason']}", code="meter_locked")
        if self.inspection()["status"] == "overdue":
            raise Locked(
                "inspection overdue: connect to the data center", code="inspection_overdue"
            )
        if len(self.log) >= self.log_capacity:
            raise Locked(
                f"the piece log is full ({self.log_capacity} pieces not yet uploaded):"
                " sync with the data center",
                code="piece_log_full",
            )
        if rate_digest not in self.rate_digests() and rate_digest not in self.rate_table_digests():
            raise ValidationError(
                "rate table not installed on this meter", code="rate_table_unknown"
            )
        today = self.clock.now().astimezone(UTC).date()
        if not today <= mailing <= today + timedelta(days=30):
            raise _bad("date of mailing must be today or within 30 days", "invalid_mailing_date")
        if mills > s["descending"]:
            raise InsufficientFunds("descending register too low", code="insufficient_funds")
        new = dict(s)
        new["descending"] -= mills
        new["ascending"] += mills
        new["pieces"] += 1
        record = IndiciumRecord(
            s["serial"],
            new["pieces"],
            Money(mills, currency),
            mailing,
            origin_zip,
            service,
            new["ascending"],
            new["descending"],
            bytes.fromhex(rate_digest),
        ).to_bytes()
        signature = self.sign(record)
        entry = {
            "piece": new["pieces"],
            "mills": mills,
            "date": mailing.isoformat(),
            "service": service,
            "origin_zip": origin_zip,
            "cost_center": cost_center,
            "printed_at": self.clock.now().isoformat(),
            "rid": rid,
        }
        # The signed record carries the piece count and both registers after the debit,
        # so the reply is just the record and its signature (short on a 115200 baud line).
        reply = {
            "ok": True,
            "record": base64.b64encode(record).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
        _remember(new, rid, digest, reply)
        payload = canonical(
            {
                "entry": entry,
                "registers": {"ascending": new["ascending"], "descending": new["descending"]},
                "digest": digest,
                "reply": reply,
            }
        )
        if self.faults.reset_before_commit:
            self.faults.reset_before_commit -= 1
            raise DeviceReset("reset before commit")
        self._append(new, _Logged(new["pieces"], entry, payload))
        if self.faults.reset_after_commit:
            self.faults.reset_after_commit -= 1
            raise DeviceReset("reset after commit")
        return reply

    def _cmd_lock(self, request: dict[str, Any]) -> dict[str, Any]:
        reason = _field(request, "reason", str, required=False) or "locked by operator"
        self._commit({**self.state, "locked": True, "lock_reason": reason[:200]})
        return {"ok": True, "locked": True}

    def _cmd_unlock(self, request: dict[str, Any]) -> dict[str, Any]:
        self._commit({**self.state, "locked": False, "lock_reason": ""})
        return {"ok": True, "locked": False}

    def _cmd_set_features(self, request: dict[str, Any]) -> dict[str, Any]:
        features = _field(request, "features", dict)
        if not all(_NAME.fullmatch(k) and isinstance(v, bool) for k, v in features.items()):
            raise _bad("features map names (1-32 of A-Z a-z 0-9 _ -) to true or false")
        merged = {**self.state["features"], **features}
        if len(merged) > MAX_FEATURES:
            raise _bad(f"at most {MAX_FEATURES} features")
        self._commit({**self.state, "features": merged})
        return {"ok": True, "features": merged}

    def _cmd_diagnostics(self, request: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        return {
            "ok": True,
            "diagnostics": {
                "firmware": s["firmware"],
                "rate_digest": s["rate_digest"],
                "rate_digests": self.rate_digests(),
                "rate_table_digests": self.rate_table_digests(),
                "locked": s["locked"],
                "lock_reason": s["lock_reason"],
                "features": s["features"],
                "graphics": s["graphics"],
                "inspection": self.inspection(),
                "executed": self.executed,
                "refused": self.refused,
                "last_token_sequence": s["last_token_sequence"],
                "uptime_s": int((self.clock.now() - self.started).total_seconds()),
                "pieces_logged": len(self.log),
                "log_capacity": self.log_capacity,
                "log_acknowledged": s.get("log_acked", 0),
            },
        }

    def _cmd_log(self, request: dict[str, Any]) -> dict[str, Any]:
        since = _field(request, "since", int)
        pieces: list[dict[str, Any]] = []
        size = 0
        first = bisect.bisect_right(self.log, since, key=lambda logged: logged.piece)
        for logged in self.log[first : first + MAX_LOG_REPLY]:
            size += len(canonical(logged.entry)) + 1
            if pieces and size > LOG_PAGE_BYTES:
                break
            pieces.append(logged.entry)
        last = pieces[-1]["piece"] if pieces else since
        return {"ok": True, "pieces": pieces, "more": last < self.state["pieces"]}

    def _cmd_ack_log(self, request: dict[str, Any]) -> dict[str, Any]:
        """The data center has stored every piece up to ``up_to``: drop them from the log.

        Authenticated by the data center under the meter key (``tokens.verify_piece_ack``),
        so that only the data center that has the pieces can make them vanish.
        """
        up_to = _field(request, "up_to", int)
        try:
            raw = bytes.fromhex(_field(request, "token", str))
        except ValueError:
            raise _bad("token must be hex", "ack_malformed") from None
        if tokens.verify_piece_ack(self.meter_key, raw, self.serial) != up_to:
            raise PermissionDenied(
                "the acknowledgement is for another piece number", code="ack_forged"
            )
        s = self.state
        if up_to > s["pieces"]:
            raise Conflict(
                f"piece {up_to} was never printed (last {s['pieces']})", code="ack_beyond_log"
            )
        acked = s.get("log_acked", 0)
        if up_to > acked:
            kept = [p for p in self.log if p.piece > up_to]
            dropped = [str(p.entry["rid"]) for p in self.log if p.piece <= up_to]
            retired = [*s.get("retired_rids", []), *dropped][-RETIRED_RIDS:]
            # the checkpoint first: from then on a load skips the records acknowledged,
            # so a cut before the log file is compacted loses and repeats nothing
            self._commit({**s, "log_acked": up_to, "retired_rids": retired})
            self.log = kept
            self._log_rids = {str(p.entry["rid"]) for p in kept}
            atomic_write(
                self.state_dir / LOG_FILE,
                b"".join(encode_record(p.payload) for p in kept),
                self.fault,
            )
        return {"ok": True, "acknowledged": max(up_to, acked), "pieces_logged": len(self.log)}

    def _cmd_install_begin(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = _field(request, "kind", str)
        if kind not in ("rates", "firmware", "graphics"):
            raise _bad("kind is rates, firmware or graphics")
        digest = _field(request, "digest", str)
        if not _HEX64.fullmatch(digest):
            raise _bad("digest is 64 lower-case hex digits (SHA-256)")
        size = _field(request, "size", int)
        if not 0 < size <= MAX_TRANSFER:
            raise _bad(f"size must be 1..{MAX_TRANSFER}")
        name = _field(request, "name", str, required=False) or ""
        version = _field(request, "version", str, required=False) or ""
        if kind == "firmware" and not version:
            raise _bad("firmware needs a version")
        if kind == "graphics" and not _NAME.fullmatch(name):
            raise _bad("graphics need a name of 1-32 letters, digits, '_' or '-'")
        self.transfer = _Transfer(kind, name, version, digest, size)
        return {"ok": True, "offset": 0}

    def _cmd_install_chunk(self, request: dict[str, Any]) -> dict[str, Any]:
        transfer = self.transfer
        if transfer is None:
            raise Conflict("no transfer in progress", code="no_transfer")
        offset = _field(request, "offset", int)
        try:
            data = base64.b64decode(_field(request, "data", str), validate=True)
        except ValueError:
            raise _bad("data must be base64") from None
        have = len(transfer.data)
        if offset + len(data) <= have and transfer.data[offset : offset + len(data)] == data:
            return {"ok": True, "offset": have}  # a repeated chunk
        if offset != have:
            raise Conflict(f"expected offset {have}", code="transfer_out_of_order")
        if have + len(data) > transfer.size:
            raise _bad("more data than announced", "transfer_too_long")
        transfer.data += data
        return {"ok": True, "offset": len(transfer.data)}

    def _cmd_install_end(self, request: dict[str, Any]) -> dict[str, Any]:
        transfer, self.transfer = self.transfer, None
        if transfer is None:
            raise Conflict("no transfer in progress", code="no_transfer")
        actual = hashlib.sha256(transfer.data).hexdigest()
        if len(transfer.data) != transfer.size or actual != transfer.digest:
            raise ValidationError("digest does not match the data", code="digest_mismatch")
        folder = self.state_dir / transfer.kind
        folder.mkdir(exist_ok=True)
        atomic_write(folder / (transfer.name or transfer.digest), bytes(transfer.data))
        new = dict(self.state)
        if transfer.kind == "rates":
            kept = [d for d in self.rate_digests() if d != transfer.digest]
            new["rate_digest"] = transfer.digest
            new["rate_digests"] = [*kept, transfer.digest][-RATE_TABLES_KEPT:]
            tables = table_digests(bytes(transfer.data))
            inside = {**self.state.get("rate_tables", {}), transfer.digest: tables}
            new["rate_tables"] = {d: inside[d] for d in new["rate_digests"] if d in inside}
        elif transfer.kind == "firmware":
            new["firmware"] = transfer.version
        else:
            new["graphics"] = {**new["graphics"], transfer.name: transfer.digest}
        self._commit(new)
        return {"ok": True, "kind": transfer.kind, "digest": actual}
