"""The connect application: one sync of a meter with its data center.

The connect side talks to the device and reports; the data center decides
(``postroom.core.meters.sync``). The same ``run_sync`` drives the in-process data
center (``pr.meters.datacenter(serial)``) and a remote one over HTTP
(``postroom.hal.meter.remote.RemoteDataCenter``):

1. identify, public key, signed registers, diagnostics -> ``begin`` -> the plan;
2. the piece log since ``plan.log_since``;
3. each reset token in order, under the request id ``prt-<sequence>`` (a resumed
   sync gets the device's stored, signed reply instead of a second refill);
4. installs (rate package, firmware, graphics) with the plan's digest, which the
   device checks; features; lock;
5. the final signed registers and diagnostics -> ``finish``;
6. the data center's acknowledgement of the pieces it stored -> ``ack_log``: the
   device drops them from its log (never before ``finish`` has stored them).

A device or line failure in steps 2-5 still reports what was done (a refill's signed
reply proves it) and the outcome lists the failure; running the sync again completes
it. Nothing here moves money: the device applies what the data center signed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import attrs

from postroom.core.errors import DeviceError, PostroomError
from postroom.core.meters import tokens
from postroom.core.meters.sync import (
    DataCenter,
    InstallOutcome,
    InstallStep,
    SyncReport,
    SyncResults,
    SyncSummary,
    TokenOutcome,
    token_request_id,
)
from postroom.hal.meter.driver import CHUNK, MeterClient

Progress = Callable[[str], None]


@attrs.frozen
class ConnectOutcome:
    summary: SyncSummary
    errors: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "complete": self.complete, "errors": list(self.errors)}


def _quiet(step: str) -> None:
    return None


def run_sync(
    meter: MeterClient, datacenter: DataCenter, *, progress: Progress | None = None
) -> ConnectOutcome:
    """Run one sync of ``meter`` with ``datacenter``; ``progress(step)`` is called before
    each step (the CLI shows it)."""
    step = progress or _quiet
    step("identify")
    identity = dict(meter.identify())
    pem = meter.public_key_pem()
    registers = meter.call("registers")
    diagnostics = meter.diagnostics()
    step("begin")
    plan = datacenter.begin(SyncReport(identity, pem, registers, dict(diagnostics)))

    pieces: list[dict[str, Any]] = []
    outcomes: list[TokenOutcome] = []
    installs: list[InstallOutcome] = []
    features: dict[str, bool] | None = None
    locked: bool | None = None
    final: dict[str, Any] | None = None
    final_diagnostics: dict[str, Any] | None = None
    errors: list[str] = []
    try:
        step("log")
        pieces = _piece_log(meter, plan.log_since)
        for token in plan.tokens:
            step(f"token {token.sequence}")
            outcomes.append(_apply(meter, token.sequence, token.token))
        for install in plan.installs:
            step(f"install {install.kind} {install.name or install.version}".rstrip())
            installs.append(_install(meter, install))
        if plan.features is not None:
            step("features")
            features = dict(meter.set_features(plan.features))
        if plan.lock is not None:
            step("lock")
            meter.lock(plan.lock)
            locked = True
        step("registers")
        final = meter.call("registers")
        final_diagnostics = dict(meter.diagnostics())
    except DeviceError as error:
        errors.append(f"{error.code}: {error.message}")
        done = {o.sequence for o in outcomes}
        outcomes += [
            TokenOutcome(t.sequence, "not_attempted") for t in plan.tokens if t.sequence not in done
        ]
    step("finish")
    summary = datacenter.finish(
        SyncResults(
            sync_id=plan.sync_id,
            pieces=tuple(pieces),
            tokens=tuple(outcomes),
            installs=tuple(installs),
            features=features,
            locked=locked,
            registers=final,
            diagnostics=final_diagnostics,
            errors=tuple(errors),
        )
    )
    if summary.ack_token is not None and not errors:
        # only now that ``finish`` has committed the pieces may the device drop them; a
        # sync cut before this point leaves them on the device, and the next one acks them
        step("ack")
        try:
            meter.call(
                "ack_log",
                up_to=summary.acknowledged,
                token=tokens.from_text(summary.ack_token).hex(),
            )
        except PostroomError as error:
            errors.append(f"{error.code}: {error.message}")
    return ConnectOutcome(summary, tuple(errors))


def _piece_log(meter: MeterClient, since: int) -> list[dict[str, Any]]:
    pieces: list[dict[str, Any]] = []
    while True:
        reply = meter.call("log", since=since)
        page = reply.get("pieces") or []
        pieces.extend(dict(p) for p in page)
        if not reply.get("more") or not page:
            return pieces
        since = int(page[-1]["piece"])


def _apply(meter: MeterClient, sequence: int, text: str) -> TokenOutcome:
    try:
        raw = tokens.from_text(text)
        reply = meter.call("refill", rid=token_request_id(sequence), token=raw.hex())
    except DeviceError:
        raise  # the line or the device failed: the sync stops here
    except PostroomError as refusal:
        return TokenOutcome(sequence, "refused", refusal.code)
    return TokenOutcome(sequence, "applied", reply=reply)


def _install(meter: MeterClient, install: InstallStep) -> InstallOutcome:
    """Send the data under the digest the data center named: the device checks it."""
    fields: dict[str, Any] = {}
    if install.kind == "firmware":
        fields["version"] = install.version
    if install.kind == "graphics":
        fields["name"] = install.name
    try:
        meter.call(
            "install_begin",
            kind=install.kind,
            digest=install.digest,
            size=len(install.data),
            **fields,
        )
        for offset in range(0, len(install.data), CHUNK):
            chunk = base64.b64encode(install.data[offset : offset + CHUNK]).decode()
            meter.call("install_chunk", offset=offset, data=chunk)
        meter.call("install_end")
    except DeviceError:
        raise
    except PostroomError as refusal:
        return InstallOutcome(install.kind, install.digest, False, install.name, refusal.code)
    return InstallOutcome(install.kind, install.digest, True, install.name)
