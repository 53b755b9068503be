"""Tracking as the API and ``postroom track ... --json`` write it: a scan's time in the
place's own offset (``2026-03-02T14:00:00-06:00``), every other moment in UTC."""

from __future__ import annotations

from typing import Any

from postroom.core.ports import ScanEvent, ShipmentStatus
from postroom.core.tracking.explanations import explain
from postroom.core.tracking.model import Shipment, Subscription
from postroom.core.tracking.numbers import Identification
from postroom.core.tracking.service import PublicTracking, RefreshReport, TrackingReport
from postroom.frontends.serialise import money, stamp


def identification_json(found: Identification) -> dict[str, Any]:
    """One number as ``postroom track identify --json`` prints it (the issue's shape)."""
    return {
        "number": found.number,
        "valid": found.valid,
        "carrier": found.carrier,
        "format": found.format,
    }


def scan_json(scan: ScanEvent) -> dict[str, Any]:
    return {
        "time": scan.occurred_at.isoformat(),
        "code": scan.code,
        "description": scan.description,
        "location": scan.location,
        "status": scan.status.value,
    }


def status_json(status: ShipmentStatus, language: str = "en") -> dict[str, Any]:
    explanation = explain(status, language)
    return {
        "code": status.value,
        "title": explanation.title,
        "meaning": explanation.meaning,
        "what_next": explanation.what_next,
    }


def shipment_json(shipment: Shipment, language: str = "en") -> dict[str, Any]:
    customs = shipment.customs
    proof = shipment.proof
    return {
        "id": shipment.id,
        "number": shipment.number,
        "format": shipment.number_format,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "customer_number": shipment.customer_number,
        "sender": shipment.parties.sender,
        "recipient": shipment.parties.recipient,
        "origin": shipment.parties.origin,
        "destination": shipment.parties.destination,
        "mailed_on": None if shipment.mailed_on is None else shipment.mailed_on.isoformat(),
        "reference": shipment.reference,
        "customs": None
        if customs is None
        else {
            "contents": customs.contents,
            "hs_codes": list(customs.hs_codes),
            "value": money(customs.value),
        },
        "status": status_json(shipment.status, language),
        "delayed": shipment.flags.delayed,
        "lost_candidate": shipment.flags.lost_candidate,
        "misrouted": shipment.flags.misrouted,
        "suggest_trace": shipment.flags.lost_candidate or shipment.status is ShipmentStatus.LOST,
        "last_scan_at": stamp(shipment.last_scan_at),
        "checked_at": stamp(shipment.checked_at),
        "next_check_at": stamp(shipment.next_check_at),
        "last_error": shipment.last_error or None,
        "proof_of_delivery": None
        if proof is None
        else {
            "delivered_at": proof.delivered_at.isoformat(),
            "signed_by": proof.signed_by,
            "reference": proof.reference,
        },
        "trace_reference": shipment.trace_reference or None,
        "created_at": stamp(shipment.created_at),
    }


def public_json(found: PublicTracking, language: str = "en") -> dict[str, Any]:
    """The public lookup: status and scans, no names or addresses."""
    return {
        "number": found.number,
        "carrier": found.carrier,
        "status": status_json(found.status, language),
        "delivered_at": None if found.delivered_at is None else found.delivered_at.isoformat(),
        "events": [scan_json(scan) for scan in found.scans],
    }


def refresh_json(report: RefreshReport) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "changed": report.changed,
        "failures": [
            {"number": f.number, "code": f.code, "message": f.message} for f in report.failures
        ],
    }


def report_json(report: TrackingReport) -> dict[str, Any]:
    return {
        "counts": {status.value: report.counts.get(status, 0) for status in ShipmentStatus},
        "delayed": [_brief(s) for s in report.delayed],
        "lost": [_brief(s) for s in report.lost],
        "on_time_rate": report.on_time_rate,
    }


def _brief(shipment: Shipment) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "number": shipment.number,
        "carrier": shipment.carrier,
        "reference": shipment.reference,
        "status": shipment.status.value,
        "last_scan_at": stamp(shipment.last_scan_at),
    }


def subscription_json(subscription: Subscription, *, with_secret: bool = False) -> dict[str, Any]:
    """A webhook subscription; its secret only in the answer that created it."""
    data: dict[str, Any] = {
        "id": subscription.id,
        "url": subscription.url,
        "shipment_id": subscription.shipment_id,
        "events": [s.value for s in ShipmentStatus if s in subscription.events]
        or [s.value for s in ShipmentStatus],
        "created_at": stamp(subscription.created_at),
    }
    if with_secret:
        data["secret"] = subscription.secret
    return data
