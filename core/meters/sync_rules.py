"""The rules of a sync, pure (no I/O): what a device's report and results prove, what
the data center records of them, and the alerts they raise.

``sync_service.py`` runs a sync as steps (store the piece log, record usage, settle
tokens, reconcile registers, acknowledge pieces, answer); each step asks these rules what
its inputs mean and records the outcome. An alert is a value here (``AlertNote``), opened
once per key by the service (``alerts.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs

from postroom.core.errors import PermissionDenied, PostroomError, ValidationError
from postroom.core.ledger.model import MeterRegisters
from postroom.core.meters import model
from postroom.core.meters.model import InspectionRules, Meter, StoredPiece
from postroom.core.meters.refills import IssuedToken
from postroom.core.meters.sync import (
    InstallOutcome,
    TokenOutcome,
    canonical,
    expected_control,
    verify_signed,
)

#: A token this close to its expiry is not sent to a device any more.
TOKEN_MARGIN = timedelta(minutes=5)
MAX_PIECES_PER_SYNC = 100_000
REGISTER_NAMES = ("descending", "ascending", "pieces", "control")


@attrs.frozen
class AlertNote:
    """Something a sync found that a person must look at: ``kind``, the ``key`` that
    makes it one alert however often a sync runs again, and what to tell."""

    kind: str
    key: str
    message: str
    details: Mapping[str, Any] = attrs.field(factory=dict)


# ------------------------------------------------------------------ registers


def parse_registers(body: Mapping[str, Any], serial: str) -> dict[str, Any]:
    """The registers a device signed (``body``, verified): meter ``serial``'s only."""
    registers = body.get("registers")
    if not isinstance(registers, Mapping):
        raise ValidationError("the reply carries no registers", code="bad_request")
    try:
        clean = {
            "serial": str(registers["serial"]),
            "currency": str(registers["currency"]),
            **{k: int(registers[k]) for k in REGISTER_NAMES},
        }
    except (KeyError, TypeError, ValueError):
        raise ValidationError("malformed registers", code="bad_request") from None
    if clean["serial"] != serial:
        raise PermissionDenied(
            f"registers of meter {clean['serial']}, not {serial}", code="meter_mismatch"
        )
    return clean


def unapplied_mills(issued: Sequence[IssuedToken]) -> int:
    """Refills issued that the device has not applied (a cancelled one left the vault)."""
    return sum(t.reset.amount.mills for t in issued if not t.applied and not t.cancelled)


def expected_registers(vault: MeterRegisters, issued: Sequence[IssuedToken]) -> dict[str, int]:
    """The registers the device should show: the vault's less the refills it has not
    applied yet."""
    unapplied = unapplied_mills(issued)
    return {
        "control": vault.control_sum - unapplied,
        "descending": vault.descending - unapplied,
        "ascending": vault.ascending,
        "pieces": vault.pieces,
    }


def registers_mismatch(
    expected: Mapping[str, int], device: Mapping[str, Any], unapplied: int
) -> AlertNote | None:
    """The alert when the device's signed registers differ from the data center's view;
    money is never adjusted for it: a person settles it."""
    actual = {k: int(device[k]) for k in expected}
    if actual == expected:
        return None
    return AlertNote(
        "registers_mismatch",
        "rec:" + hashlib.sha256(canonical([expected, actual])).hexdigest()[:32],
        "the device's registers differ from the data center's: "
        + ", ".join(
            f"{k} {actual[k]} != {expected[k]}" for k in expected if actual[k] != expected[k]
        ),
        {"device": actual, "expected": dict(expected), "unapplied_tokens_mills": unapplied},
    )


def proves_nothing_unrecorded(
    device: Mapping[str, Any], vault: MeterRegisters, issued: Sequence[IssuedToken]
) -> bool:
    """Whether the device's signed control sum equals the refills the vault recorded
    applied, so that no unrecorded token is on the device: then its expired, unapplied
    refills may go back to the postage account."""
    return int(device["control"]) == vault.control_sum - unapplied_mills(issued)


# --------------------------------------------------------------------- tokens


def pending_tokens(
    issued: Sequence[IssuedToken], diagnostics: Mapping[str, Any], now: datetime
) -> list[IssuedToken]:
    """Tokens to send, in sequence order: not recorded applied, after the last one
    recorded, and either still valid (not cancelled) or already applied by the device
    (its ``last_token_sequence``), whose stored reply the device hands back."""
    last_recorded = max((t.reset.sequence for t in issued if t.applied), default=0)
    device_last = diagnostics.get("last_token_sequence")
    device_last = device_last if isinstance(device_last, int) else 0
    return sorted(
        (
            t
            for t in issued
            if not t.applied
            # a cancelled one only to collect the proof of a device that says it applied it
            and (not t.cancelled or t.reset.sequence <= device_last)
            and t.reset.sequence > last_recorded
            and (t.reset.sequence <= device_last or t.reset.expires_at > now + TOKEN_MARGIN)
        ),
        key=lambda t: t.reset.sequence,
    )


@attrs.frozen
class TokenFindings:
    """What a device's answers to its tokens prove: the sequences proven applied (with
    the signed replies, for the vault), those it says it applied before (their reply
    gone), those its clock refused as expired, and the alerts."""

    proven: frozenset[int]
    replies: Mapping[int, Mapping[str, Any]]
    replayed: tuple[int, ...]
    expired: tuple[int, ...]
    alerts: tuple[AlertNote, ...]


def read_token_outcomes(
    outcomes: Sequence[TokenOutcome], issued: Mapping[int, IssuedToken], pem: str
) -> TokenFindings:
    """A signed refill reply proves the device applied a token; a refusal is an alert,
    but for ``token_replayed`` (settled by the control sum) and ``token_expired``
    (maybe cancelled meanwhile)."""
    proven: set[int] = set()
    replies: dict[int, Mapping[str, Any]] = {}
    replayed: list[int] = []
    expired: list[int] = []
    alerts: list[AlertNote] = []
    for outcome in outcomes:
        token = issued.get(outcome.sequence)
        if token is None:
            alerts.append(
                AlertNote(
                    "token_unknown",
                    f"tok:{outcome.sequence}",
                    f"the device reported token {outcome.sequence}, which was never issued",
                    {"sequence": outcome.sequence},
                )
            )
            continue
        if outcome.status == "applied" and outcome.reply is not None:
            try:
                body = verify_signed(pem, outcome.reply)
                if body.get("applied", {}).get("sequence") != outcome.sequence:
                    raise PermissionDenied(
                        "the reply is for another token", code="signature_invalid"
                    )
            except PostroomError as error:
                alerts.append(
                    AlertNote(
                        "signature_invalid",
                        f"tok:{outcome.sequence}:sig",
                        f"the reply to token {outcome.sequence} does not prove it: {error}",
                        {"sequence": outcome.sequence},
                    )
                )
                continue
            proven.add(outcome.sequence)
            replies[outcome.sequence] = outcome.reply
        elif outcome.status == "refused" and outcome.code == "token_replayed":
            replayed.append(outcome.sequence)
        elif outcome.status == "refused" and outcome.code == "token_expired":
            expired.append(outcome.sequence)
        elif outcome.status == "refused":
            alerts.append(token_refused(token, str(outcome.code)))
    return TokenFindings(frozenset(proven), replies, tuple(replayed), tuple(expired), tuple(alerts))


def token_refused(token: IssuedToken, code: str) -> AlertNote:
    sequence = token.reset.sequence
    return AlertNote(
        "token_refused",
        f"tok:{sequence}:{code}",
        f"the device refused token {sequence} ({code})",
        {"sequence": sequence, "code": code, "mills": token.reset.amount.mills},
    )


def prove_replayed(
    replayed: Sequence[int],
    issued: Mapping[int, IssuedToken],
    registers: Mapping[str, Any] | None,
    last_applied: object,
) -> tuple[frozenset[int], AlertNote | None]:
    """Tokens the device refused as replayed (applied before, their reply gone) are
    proven by its signed control sum when it shows every refill up to its
    ``last_token_sequence``; otherwise an alert."""
    if not replayed or registers is None or not isinstance(last_applied, int):
        return frozenset(), None
    amounts = [
        (t.reset.sequence, t.reset.amount.mills, t.applied)
        for t in issued.values()
        if not t.cancelled  # expired unapplied: never on the device
    ]
    if registers["control"] == expected_control(amounts, last_applied):
        return frozenset(s for s in replayed if s <= last_applied), None
    return frozenset(), AlertNote(
        "token_unproven",
        f"tok:{','.join(map(str, replayed))}:{registers['control']}",
        "the device says it applied tokens whose reply is gone, and its control"
        " sum does not show them",
        {"sequences": list(replayed), "control": registers["control"]},
    )


def token_not_recorded(token: IssuedToken, error: PostroomError) -> AlertNote:
    """The vault refused to record a token the device proved it applied."""
    sequence = token.reset.sequence
    if error.code == "token_cancelled":
        # The refill went back to the postage account when the token expired
        # unrecorded, and the device shows it applied it in time after all: the
        # funds are in two places. Never re-funded here: a person settles it.
        return AlertNote(
            "token_applied_after_cancel",
            f"tok:{sequence}:cancelled",
            f"the device proves it applied token {sequence}, whose refill of"
            f" {token.reset.amount} was returned to the postage account when it"
            " expired: the device holds funds the ledger gave back",
            {
                "sequence": sequence,
                "mills": token.reset.amount.mills,
                "cancel_transfer_id": error.details.get("transfer_id"),
            },
        )
    return AlertNote(
        "token_not_recorded",
        f"tok:{sequence}:rec:{error.code}",
        f"the device applied token {sequence} but the vault refused to record it ({error.code})",
        {"sequence": sequence, "code": error.code},
    )


def token_not_cancelled(token: IssuedToken, error: PostroomError) -> AlertNote:
    sequence = token.reset.sequence
    return AlertNote(
        "token_not_cancelled",
        f"tok:{sequence}:cancel:{error.code}",
        f"token {sequence} expired unapplied but its refill could not be returned ({error.code})",
        {"sequence": sequence, "code": error.code},
    )


def expired_refusals(
    expired: Sequence[int], cancelled: set[int], issued: Mapping[int, IssuedToken]
) -> list[AlertNote]:
    """A token the device refused as expired that stays live (its clock is ahead of the
    data center's) is an alert; one cancelled, now or before, is settled."""
    return [
        token_refused(issued[s], "token_expired")
        for s in expired
        if s not in cancelled and not issued[s].cancelled
    ]


# --------------------------------------------------------------------- pieces


@attrs.frozen
class UploadedPiece:
    """One piece of a device's log as a sync uploads it (checked)."""

    serial: str
    piece: int
    mills: int
    mailing_date: str
    service: str
    origin_zip: str
    cost_center: str | None
    printed_at: datetime
    request_id: str

    def stored(self, currency: str, usage_transfer_id: str) -> StoredPiece:
        return StoredPiece(
            serial=self.serial,
            piece=self.piece,
            mills=self.mills,
            currency=currency,
            mailing_date=self.mailing_date,
            service=self.service,
            origin_zip=self.origin_zip,
            cost_center=self.cost_center,
            printed_at=self.printed_at,
            request_id=self.request_id,
            usage_transfer_id=usage_transfer_id,
            recorded=False,
        )


def parse_piece(data: Mapping[str, Any], serial: str) -> UploadedPiece:
    """A piece of meter ``serial``'s uploaded log, or ``invalid_piece``."""

    def bad(why: str) -> ValidationError:
        return ValidationError(f"malformed piece: {why}", code="invalid_piece")

    if not isinstance(data, Mapping):
        raise bad("not an object")
    piece, mills = data.get("piece"), data.get("mills")
    for name, value in (("piece", piece), ("mills", mills)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**32:
            raise bad(f"{name} is a positive whole number")
    assert isinstance(piece, int)
    assert isinstance(mills, int)
    texts = {}
    for name, limit in (("date", 10), ("service", 80), ("origin_zip", 20), ("rid", 64)):
        value = data.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            raise bad(f"{name} is text of 1-{limit} characters")
        texts[name] = value
    center = data.get("cost_center")
    if center is not None and not isinstance(center, str):
        raise bad("cost_center is text or null")
    # the device logs what the print named; the ledger keeps a clean name of at most 60
    if center is not None:
        center = " ".join(center.split())[:60].strip()
        if not center or not center.isprintable():
            center = None
    try:
        date.fromisoformat(texts["date"])
        printed_at = datetime.fromisoformat(str(data.get("printed_at")))
    except ValueError:
        raise bad("date or printed_at is not ISO 8601") from None
    if printed_at.tzinfo is None:
        raise bad("printed_at has no time zone")
    return UploadedPiece(
        serial=serial,
        piece=piece,
        mills=mills,
        mailing_date=texts["date"],
        service=texts["service"],
        origin_zip=texts["origin_zip"],
        cost_center=center,
        printed_at=printed_at,
        request_id=texts["rid"],
    )


def parse_pieces(pieces: Sequence[Mapping[str, Any]], serial: str) -> list[UploadedPiece]:
    """An uploaded log, in piece order: at most ``MAX_PIECES_PER_SYNC`` pieces."""
    parsed = sorted((parse_piece(p, serial) for p in pieces), key=lambda p: p.piece)
    if len(parsed) > MAX_PIECES_PER_SYNC:
        raise ValidationError("too many pieces in one sync", code="too_many_pieces")
    return parsed


@attrs.frozen
class NewPieces:
    """The pieces of an upload the data center does not have yet, as stored (each with
    the usage transfer that records it), and the gap before them if the log lost some."""

    pieces: tuple[StoredPiece, ...]
    gap: Mapping[str, int] | None = None


def new_pieces(parsed: Sequence[UploadedPiece], last_piece: int, currency: str) -> NewPieces:
    """What of an upload (``parsed``, in piece order) comes after ``last_piece``, the
    last piece stored: each new piece once, grouped into usage transfers per cost
    centre (``model.usage_groups``)."""
    new = [p for p in parsed if p.piece > last_piece]
    numbers = [p.piece for p in new]
    if len(set(numbers)) != len(numbers):
        raise ValidationError("a piece appears twice", code="duplicate_piece")
    if not new:
        return NewPieces(())
    gap = None
    if numbers != list(range(last_piece + 1, numbers[-1] + 1)):
        gap = {"after": last_piece, "first": numbers[0], "last": numbers[-1]}
    ids = model.usage_groups(new[0].serial, [(p.piece, p.mills, p.cost_center) for p in new])
    return NewPieces(tuple(p.stored(currency, ids[p.piece]) for p in new), gap)


def upload_alerts(
    parsed: Sequence[UploadedPiece], allowed: Sequence[str], gap: Mapping[str, int] | None
) -> list[AlertNote]:
    """Pieces naming cost centres the meter does not allow (recorded under those names
    all the same), and a gap in the log (pieces whose postage is not recorded)."""
    alerts = []
    strange = sorted(
        {str(p.cost_center) for p in parsed if p.cost_center} - set(allowed) if allowed else set()
    )
    if strange:
        alerts.append(
            AlertNote(
                "cost_center_unknown",
                "cc:" + ",".join(strange)[:150],
                f"pieces name cost centres not allowed on this meter: {', '.join(strange)}"
                " (their postage is recorded under those names)",
                {"cost_centers": strange},
            )
        )
    if gap is not None:
        alerts.append(
            AlertNote(
                "piece_log_gap",
                f"gap:{gap['after']}:{gap['first']}:{gap['last']}",
                "pieces are missing from the uploaded log (the device lost part of its log):"
                " their postage is not recorded",
                dict(gap),
            )
        )
    return alerts


@attrs.frozen
class UsageReport:
    """Stored pieces not yet recorded in the vault, recorded as one usage transfer."""

    transfer_id: str
    pieces: tuple[StoredPiece, ...]

    @property
    def mills(self) -> int:
        return sum(p.mills for p in self.pieces)

    @property
    def currency(self) -> str:
        return self.pieces[0].currency

    @property
    def cost_center(self) -> str | None:
        return self.pieces[0].cost_center or None

    @property
    def reference(self) -> str:
        return f"meter pieces {self.pieces[0].piece}-{self.pieces[-1].piece}"

    def not_recorded(self, error: PostroomError) -> AlertNote:
        return AlertNote(
            "usage_not_recorded",
            f"use:{self.transfer_id}:{error.code}",
            f"postage of {self.reference} was not recorded in the vault: {error.message}",
            {"transfer_id": self.transfer_id, "mills": self.mills, "code": error.code},
        )


def usage_reports(unrecorded: Sequence[StoredPiece]) -> list[UsageReport]:
    """The usage transfers of the stored pieces not recorded yet (in piece order)."""
    groups: dict[str, list[StoredPiece]] = {}
    for piece in unrecorded:
        groups.setdefault(piece.usage_transfer_id, []).append(piece)
    return [UsageReport(transfer_id, tuple(group)) for transfer_id, group in groups.items()]


# -------------------------------------------------------------------- installs


def install_findings(installs: Sequence[InstallOutcome]) -> tuple[list[str], list[AlertNote]]:
    """What the device installed (names), and an alert for each install that failed."""
    installed = []
    alerts = []
    for install in installs:
        if install.ok:
            installed.append(install.name or install.kind)
        else:
            alerts.append(
                AlertNote(
                    "install_failed",
                    f"inst:{install.kind}:{install.name}:{install.digest}:{install.code}",
                    f"the device did not install {install.kind} {install.name} ({install.code})",
                    install.to_json(),
                )
            )
    return installed, alerts


# ------------------------------------------------------------------- the device


def device_after_sync(
    device: Mapping[str, Any],
    registers: Mapping[str, Any] | None,
    diagnostics: Mapping[str, Any],
    features: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """What the data center knows of the device once a sync finished."""
    known = dict(device)
    if registers is not None:
        known["registers"] = registers
    if diagnostics:
        known["diagnostics"] = dict(diagnostics)
        known["firmware"] = diagnostics.get("firmware", known.get("firmware"))
        known["rate_digest"] = diagnostics.get("rate_digest")
    if features is not None:
        known["features"] = dict(features)
    known["reported_at"] = now.isoformat()
    return known


def meter_after_sync(
    current: Meter,
    registers: Mapping[str, Any] | None,
    diagnostics: Mapping[str, Any],
    features: Mapping[str, Any] | None,
    inspected: bool,
    rules: InspectionRules,
    now: datetime,
) -> dict[str, Any]:
    """The registry's changes once a sync finished: when it ran, what the device now
    is, its firmware, and a new inspection period when a token recorded the inspection."""
    values: dict[str, Any] = {
        "last_sync_at": now,
        "device": device_after_sync(current.device, registers, diagnostics, features, now),
    }
    if diagnostics.get("firmware"):
        values["firmware"] = str(diagnostics["firmware"])[:40]
    if inspected:
        values.update(
            inspected_at=now,
            inspection_due_at=rules.due_at(now),
            inspection_lock_at=rules.lock_at(now),
        )
    return values


def inspection_due_after(
    meter: Meter, inspected: bool, rules: InspectionRules, now: datetime
) -> str | None:
    """When the meter's next inspection is due once this sync finished (ISO 8601)."""
    if inspected:
        return rules.due_at(now).isoformat()
    return None if meter.inspection_due_at is None else meter.inspection_due_at.isoformat()
