"""Support cases as the API and ``postroom cases ... --json`` write them.

``staff=False`` is the customer's view: no internal notes (the caller passes a
customer's ``CaseDetail``, which has none), no assignee, escalation reason or
warning/breach bookkeeping.
"""

from __future__ import annotations

from typing import Any

from postroom.core.cases.claims import Claim
from postroom.core.cases.claims_desk import DOCUMENT_NAMES
from postroom.core.cases.model import (
    Agent,
    Case,
    CaseDetail,
    CaseReport,
    HistoryEntry,
    Message,
    ReportRow,
)
from postroom.core.cases.sla import SlaView
from postroom.frontends.serialise import money, optional_money, stamp


def sla_json(view: SlaView) -> dict[str, Any]:
    return {
        "first_response_due": stamp(view.first_response_due),
        "resolution_due": stamp(view.resolution_due),
        "first_response_at": stamp(view.first_response_at),
        "resolved_at": stamp(view.resolved_at),
        "paused": view.paused,
        "first_response_breached": view.first_response_breached,
        "resolution_breached": view.resolution_breached,
        "breached": view.breached,
        "time_zone": view.time_zone,
    }


def case_json(case: Case, sla: SlaView | None = None, *, staff: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "number": case.number,
        "customer_number": case.customer_number,
        "subject": case.subject,
        "department": case.department.value,
        "channel": case.channel.value,
        "priority": case.priority.value,
        "status": case.status.value,
        "opened_at": stamp(case.opened_at),
        "updated_at": stamp(case.updated_at),
        "contact": {
            "name": case.contact.name,
            "email": case.contact.email,
            "phone": case.contact.phone,
            "details": case.contact.details,
        },
        "links": [{"kind": link.kind.value, "reference": link.reference} for link in case.links],
        "merged_into": case.merged_into,
    }
    if sla is not None:
        data["sla"] = sla_json(sla)
    if staff:
        data.update(
            {
                "assignee_id": case.assignee_id,
                "recurring": case.recurring,
                "escalated_at": stamp(case.escalated_at),
                "escalation_reason": case.escalation_reason or None,
                "warned_at": stamp(case.warned_at),
                "breached_at": stamp(case.breached_at),
            }
        )
    return data


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "kind": message.kind.value,
        "author": {"kind": message.author.kind.value, "name": message.author.name},
        "body": message.body,
        "created_at": stamp(message.created_at),
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "attachments": [
            {
                "sha256": a.sha256,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
            }
            for a in message.attachments
        ],
    }


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "at": stamp(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "detail": entry.detail,
    }


def detail_json(detail: CaseDetail, sla: SlaView, *, staff: bool) -> dict[str, Any]:
    data = case_json(detail.case, sla, staff=staff)
    data["description"] = detail.case.description
    data["messages"] = [message_json(m) for m in detail.messages]
    data["history"] = [history_json(h) for h in detail.history]
    return data


def claim_json(claim: Claim) -> dict[str, Any]:
    return {
        "kind": claim.kind.value,
        "tracking_number": claim.tracking_number,
        "declared_value": money(claim.declared_value),
        "filed_at": stamp(claim.filed_at),
        "deadline": claim.deadline.isoformat(),
        "documents": sorted(d.value for d in claim.documents),
        "missing": [{"document": d.value, "name": DOCUMENT_NAMES[d]} for d in claim.missing],
        "outcome": claim.outcome.value,
        "outcome_reason": claim.outcome_reason or None,
        "refunded": optional_money(claim.refunded),
        "reshipment": claim.reshipment or None,
        "decided_at": stamp(claim.decided_at),
    }


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "user_id": agent.user_id,
        "name": agent.name,
        "departments": sorted(d.value for d in agent.departments),
        "available": agent.available,
    }


def _row(row: ReportRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "opened": row.opened,
        "resolved": row.resolved,
        "first_response_hours": row.first_response_hours,
        "resolution_hours": row.resolution_hours,
        "sla_attainment": row.sla_attainment,
        "backlog": row.backlog,
        "oldest_backlog_days": row.oldest_backlog_days,
    }


def report_json(report: CaseReport) -> dict[str, Any]:
    return {
        "since": stamp(report.since),
        "until": stamp(report.until),
        "by_channel": [_row(r) for r in report.by_channel],
        "by_department": [_row(r) for r in report.by_department],
        "total": _row(report.total),
    }
