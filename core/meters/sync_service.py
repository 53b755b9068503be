"""The data-center side of a meter's sync (``sync.py`` has the conversation; docs/meters.md).

``begin`` checks what the device says of itself and plans the sync; ``finish`` records
what the device did, as steps: store its piece log, record the usage in the vault,
verify its final registers, settle its tokens, note its installs, reconcile its
registers with the vault's, then acknowledge the pieces stored and answer. The rules of
each step are in ``sync_rules.py``; every step is idempotent, so a sync cut anywhere is
simply run again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PostroomError,
    ValidationError,
)
from postroom.core.meters import model
from postroom.core.meters import tokens as prt
from postroom.core.meters.alerts import MeterAlerts
from postroom.core.meters.assets import MeterAssets
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.model import InspectionRules, Meter, MeterStatus
from postroom.core.meters.refills import IssuedToken
from postroom.core.meters.registry import MeterRegistry, get_meter
from postroom.core.meters.reset_tokens import ResetTokens
from postroom.core.meters.store import MeterRepositories
from postroom.core.meters.sync import (
    InstallStep,
    SyncPlan,
    SyncReport,
    SyncResults,
    SyncSummary,
    TokenStep,
    Wanted,
    decide,
    load_public_key,
    verify_signed,
)
from postroom.core.meters.sync_rules import (
    AlertNote,
    expected_registers,
    expired_refusals,
    inspection_due_after,
    install_findings,
    meter_after_sync,
    new_pieces,
    parse_pieces,
    parse_registers,
    pending_tokens,
    prove_replayed,
    read_token_outcomes,
    registers_mismatch,
    unapplied_mills,
    upload_alerts,
    usage_reports,
)
from postroom.core.money import Money

log = logging.getLogger(__name__)

#: Opens alerts in order; collects the kinds newly opened for the sync's answer.
OpenAlerts = Callable[[Iterable[AlertNote]], None]


class MeterSyncs:
    """Begin and finish meter syncs."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        funds: MeterFunds,
        rules: InspectionRules,
        registry: MeterRegistry,
        assets: MeterAssets,
        alerts: MeterAlerts,
        tokens: ResetTokens,
        meters: MeterRepositories,
        secret: Callable[[], str],
    ) -> None:
        self._db = db
        self._clock = clock
        self._funds = funds
        self._rules = rules
        self._registry = registry
        self._assets = assets
        self._alerts = alerts
        self._tokens = tokens
        self._meters = meters
        self._secret = secret

    def counts(self) -> tuple[int, int]:
        """(finished, unfinished) syncs ever started, for the metrics."""
        return self._db.run(lambda uow: self._meters(uow).sync_counts(), readonly=True)

    # ------------------------------------------------------------------------ begin

    def begin(self, serial: str, report: SyncReport) -> SyncPlan:
        meter = self._registry.get(serial)
        now = self._clock.now()
        if report.serial != meter.serial:
            raise PermissionDenied(
                f"this conversation is for meter {meter.serial}, not {report.serial}",
                code="meter_mismatch",
            )
        meter, pem = self._device_key(meter, report.public_key_pem)
        try:
            body = verify_signed(pem, report.registers)
        except PermissionDenied:
            self._alerts.open(
                meter,
                AlertNote(
                    "signature_invalid",
                    f"sig:{now.isoformat()}",
                    "the device's registers did not verify",
                ),
            )
            raise
        registers = parse_registers(body, meter.serial)
        if report.identity.get("model") != meter.model:
            raise PermissionDenied(
                f"the device is a {report.identity.get('model')}, registered as {meter.model}",
                code="model_mismatch",
            )
        diagnostics = dict(report.diagnostics)
        vault_meter = self._funds.registers(meter.serial)
        if registers["currency"] != vault_meter.currency:
            raise ValidationError(
                "the device's currency is not its account's", code="currency_mismatch"
            )

        sync_id = secrets.token_hex(16)
        pending = pending_tokens(self._funds.issued_tokens(meter.serial), diagnostics, now)
        # withdrawn in the registry, or in the vault directly (`postroom vault withdraw-meter`)
        active = meter.status is MeterStatus.ACTIVE and vault_meter.status == "active"
        wanted = self._wanted(meter, active)
        # a cancelled token sent for its proof is no refill: without another, a sync
        # token records the inspection
        decision = decide(wanted, diagnostics, len([t for t in pending if not t.cancelled]))
        if decision.issue_sync_token:
            self._funds.issue_sync_token(meter.serial, f"sync:{sync_id}")
            pending = pending_tokens(self._funds.issued_tokens(meter.serial), diagnostics, now)
        plan = SyncPlan(
            sync_id=sync_id,
            serial=meter.serial,
            log_since=meter.last_piece,
            tokens=tuple(
                TokenStep(t.reset.sequence, t.token, t.reset.amount.mills)
                for t in (pending if decision.apply_tokens or decision.issue_sync_token else [])
            ),
            installs=self._installs(
                meter, decision.install_rates, decision.install_firmware, decision.graphics
            ),
            features=decision.features,
            lock=decision.lock,
        )
        device = {
            **meter.device,
            "identity": dict(report.identity),
            "registers": registers,
            "firmware": report.identity.get("firmware"),
            "rate_digest": diagnostics.get("rate_digest"),
            "diagnostics": diagnostics,
            "reported_at": now.isoformat(),
        }

        def work(uow: UnitOfWork) -> None:
            store = self._meters(uow)
            store.add_sync(sync_id, meter.serial, now, plan.outline())
            store.update(meter.serial, device=device)
            uow.commit()

        self._db.run(work)
        return plan

    def _device_key(self, meter: Meter, presented: str) -> tuple[Meter, str]:
        """The key the device's signatures are checked with: pinned at its first sync,
        and from then on the only one it may present."""
        pem = meter.public_key_pem
        if pem is None:
            load_public_key(presented)
            return self._registry.pin_public_key(meter.serial, presented), presented
        if presented.strip() != pem.strip():
            self._alerts.open(
                meter,
                AlertNote(
                    "device_key_changed",
                    f"key:{hashlib.sha256(presented.encode()).hexdigest()}",
                    "the device presented another public key than the one pinned",
                ),
            )
            raise PermissionDenied(
                "the device's public key is not the one registered", code="device_key_mismatch"
            )
        return meter, pem

    def _wanted(self, meter: Meter, active: bool) -> Wanted:
        package = self._assets.rate_package(meter.carrier) if active else None
        firmware = self._assets.latest("firmware", meter.model)
        return Wanted(
            active=active,
            rates_digest=None if package is None else model.digest_of(package),
            firmware=None if firmware is None else firmware[0],
            features=meter.features,
            graphics=meter.graphics,
        )

    def _installs(
        self, meter: Meter, rates: bool, firmware: bool, graphics: Sequence[str]
    ) -> tuple[InstallStep, ...]:
        installs: list[InstallStep] = []
        if rates:
            package = self._assets.rate_package(meter.carrier)
            if package is not None:
                installs.append(InstallStep("rates", model.digest_of(package), package))
        if firmware:
            found = self._assets.latest("firmware", meter.model)
            if found is not None:
                installs.append(InstallStep("firmware", found[1], found[2], version=found[0]))
        for name in graphics:
            found = self._assets.latest("graphics", meter.serial, name)
            if found is not None:
                installs.append(InstallStep("graphics", found[1], found[2], name=name))
        return tuple(installs)

    # ----------------------------------------------------------------------- finish

    def finish(self, serial: str, results: SyncResults) -> SyncSummary:
        meter = self._registry.get(serial)
        now = self._clock.now()
        plan = self._plan_of(meter, results.sync_id)
        pem = meter.public_key_pem
        if pem is None:  # pinned at begin; only a registry edit in between removes it
            raise Conflict("the meter has no public key pinned", code="no_public_key")
        opened: list[str] = []

        def alert(notes: Iterable[AlertNote]) -> None:
            opened.extend(n.kind for n in notes if self._alerts.open(meter, n))

        uploaded = self._store_pieces(meter, results.pieces, now, alert)
        usage = self._record_usage(meter, alert)
        registers = self._final_registers(meter, pem, results, alert)
        diagnostics = dict(results.diagnostics or {})
        applied = self._settle_tokens(meter, pem, results, registers, diagnostics, now, alert)
        installed, failed = install_findings(results.installs)
        alert(failed)
        reconciled = None
        if registers is not None:
            reconciled = self._reconcile(meter, registers, alert)
        elif results.errors:
            log.info("sync %s of %s cut short: %s", results.sync_id, meter.serial, results.errors)
        inspected = bool(applied)
        acknowledged, ack_token = self._piece_ack(meter.serial)
        summary = SyncSummary(
            sync_id=results.sync_id,
            serial=meter.serial,
            pieces_uploaded=uploaded,
            usage_recorded_mills=usage,
            tokens_applied=tuple(sorted(set(applied))),
            installed=tuple(installed),
            alerts=tuple(opened),
            reconciled=reconciled,
            inspection_due_at=inspection_due_after(meter, inspected, self._rules, now),
            registers=registers,
            acknowledged=acknowledged,
            ack_token=ack_token,
        )

        def work(uow: UnitOfWork) -> None:
            store = self._meters(uow)
            current = get_meter(store, meter.serial, lock=True)
            values = meter_after_sync(
                current, registers, diagnostics, results.features, inspected, self._rules, now
            )
            store.update(meter.serial, **values)
            store.finish_sync(
                results.sync_id,
                now,
                {**summary.to_json(), "plan": plan, "errors": list(results.errors)},
            )
            uow.commit()

        self._db.run(work)
        return summary

    def _plan_of(self, meter: Meter, sync_id: str) -> dict[str, Any]:
        """The plan ``begin`` made for this meter's sync ``sync_id``."""
        found = self._db.run(lambda uow: self._meters(uow).sync(sync_id), readonly=True)
        if found is None or found[0] != meter.serial:
            raise NotFound(f"no sync {sync_id!r} for this meter", code="sync_not_found")
        return found[1]

    def _store_pieces(
        self, meter: Meter, pieces: Sequence[Mapping[str, Any]], now: datetime, alert: OpenAlerts
    ) -> int:
        """Step 1: store the uploaded log's new pieces once each (the meter's last piece
        moves with them), then raise what the upload showed."""
        parsed = parse_pieces(pieces, meter.serial)
        currency = self._funds.registers(meter.serial).currency

        def work(uow: UnitOfWork) -> tuple[int, Mapping[str, int] | None]:
            store = self._meters(uow)
            current = get_meter(store, meter.serial, lock=True)
            new = new_pieces(parsed, current.last_piece, currency)
            if not new.pieces:
                return 0, None
            store.add_pieces(new.pieces, now)
            store.update(meter.serial, last_piece=new.pieces[-1].piece)
            uow.commit()
            return len(new.pieces), new.gap

        stored, gap = self._db.run(work)
        alert(upload_alerts(parsed, meter.cost_centers, gap))  # each its own transaction
        return stored

    def _record_usage(self, meter: Meter, alert: OpenAlerts) -> int:
        """Step 2: record in the vault the postage of every stored piece not recorded yet,
        one usage transfer per group (its id makes a rerun record nothing twice)."""
        unrecorded = self._db.run(
            lambda uow: self._meters(uow).pieces(meter.serial, unrecorded=True), readonly=True
        )
        recorded = 0
        for report in usage_reports(unrecorded):
            try:
                self._funds.record_usage(
                    meter.serial,
                    Money(report.mills, report.currency),
                    len(report.pieces),
                    report.transfer_id,
                    reference=report.reference,
                    cost_center=report.cost_center,
                )
            except PostroomError as error:
                alert([report.not_recorded(error)])
                continue

            def mark(uow: UnitOfWork, transfer_id: str = report.transfer_id) -> None:
                self._meters(uow).mark_recorded(meter.serial, transfer_id)
                uow.commit()

            self._db.run(mark)
            recorded += report.mills
        return recorded

    def _final_registers(
        self, meter: Meter, pem: str, results: SyncResults, alert: OpenAlerts
    ) -> dict[str, Any] | None:
        """Step 3: the device's final registers, signed; they settle tokens whose reply
        is gone and are reconciled with the vault's."""
        if results.registers is None:
            return None
        try:
            return parse_registers(verify_signed(pem, results.registers), meter.serial)
        except PostroomError as error:
            alert(
                [
                    AlertNote(
                        "signature_invalid",
                        f"sig:{results.sync_id}",
                        f"the device's final registers did not verify: {error}",
                    )
                ]
            )
            return None

    def _settle_tokens(
        self,
        meter: Meter,
        pem: str,
        results: SyncResults,
        registers: Mapping[str, Any] | None,
        diagnostics: Mapping[str, Any],
        now: datetime,
        alert: OpenAlerts,
    ) -> list[int]:
        """Step 4: record the tokens the device proved it applied, in sequence order (the
        vault refuses an older sequence after a newer one); return to the postage account
        the expired refills its signed control sum shows it never applied. The sequences
        recorded."""
        issued = {t.reset.sequence: t for t in self._funds.issued_tokens(meter.serial)}
        findings = read_token_outcomes(results.tokens, issued, pem)
        alert(findings.alerts)
        replayed, unproven = prove_replayed(
            findings.replayed, issued, registers, diagnostics.get("last_token_sequence")
        )
        alert([unproven] if unproven else [])
        applied = []
        for sequence in sorted(findings.proven | replayed):
            refused = self._tokens.record_applied(
                meter, issued[sequence], findings.replies.get(sequence)
            )
            if refused is None:
                applied.append(sequence)
            else:
                alert([refused])
        cancelled: set[int] = set()
        if registers is not None:
            cancelled, failed = self._tokens.cancel_unapplied(meter, registers, now)
            alert(failed)
        alert(expired_refusals(findings.expired, cancelled, issued))
        return applied

    def _reconcile(self, meter: Meter, device: Mapping[str, Any], alert: OpenAlerts) -> bool | None:
        """Step 5: compare the device's signed registers with the data center's view, once
        every token is recorded; a difference is an alert, money is never adjusted here.
        None for a meter out of service (its funds went back)."""
        vault = self._funds.registers(meter.serial)
        if meter.status is not MeterStatus.ACTIVE or vault.status != "active":
            return None
        issued: list[IssuedToken] = self._funds.issued_tokens(meter.serial)
        mismatch = registers_mismatch(
            expected_registers(vault, issued), device, unapplied_mills(issued)
        )
        if mismatch is None:
            return True
        alert([mismatch])
        return False

    def _piece_ack(self, serial: str) -> tuple[int, str | None]:
        """Step 6: the acknowledgement of every piece stored for meter ``serial``: the
        device drops those pieces from its log on it (``ack_log``). Issued only from what
        is committed, so a device never forgets a piece the data center does not have."""
        last = self._registry.get(serial).last_piece
        if last < 1:
            return last, None
        key = prt.meter_key(self._secret(), serial)
        return last, prt.to_text(prt.issue_piece_ack(key, serial, last))
