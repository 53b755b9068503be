"""The reader's-language names of a case's statuses, priorities, channels, departments
and link kinds (their values never collide, so one filter names them all), and the
console's shared helpers for templates."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _

from postroom.core.cases.model import Department
from postroom.frontends.web.case_uploads import max_megabytes
from postroom.frontends.web.signin import current_user, has_role

#: Staff roles that work in the console (``roles_required`` names).
CONSOLE_ROLES = ("agent", "supervisor", "account-manager", "staff:admin")
#: Staff who see the priority queue, write canned replies and read every report.
SUPERVISORS = ("supervisor", "staff:admin")


def terms() -> dict[str, Any]:
    return {
        # statuses
        "new": _("New"),
        "open": _("Open"),
        "waiting_on_customer": _("Waiting on customer"),
        "escalated": _("Escalated"),
        "resolved": _("Resolved"),
        "closed": _("Closed"),
        # priorities
        "low": _("Low"),
        "normal": _("Normal"),
        "high": _("High"),
        "urgent": _("Urgent"),
        # channels
        "phone": _("Phone"),
        "email": _("Email"),
        "web": _("Web form"),
        "chat": _("Chat"),
        "social": _("Social media"),
        "mail": _("Postal mail"),
        "kiosk": _("Mailroom terminal"),
        # departments
        "equipment": _("Mailing equipment"),
        "software": _("Software and online services"),
        "shipping": _("Shipping and e-commerce"),
        "billing": _("Financial services and billing"),
        "tracking": _("Tracking"),
        # claims: kinds, documents, outcomes
        "lost": _("Lost parcel"),
        "damaged": _("Damaged parcel"),
        "proof_of_mailing": _("Proof of mailing or shipping receipt"),
        "shipment_details": _("Tracking number and shipment details"),
        "proof_of_value": _("Invoice or proof of value"),
        "damage_photos": _("Photos of the damage"),
        "pending": _("Being examined"),
        "refund": _("Refunded"),
        "reshipment": _("Reshipped"),
        "denied": _("Denied"),
        # links
        "meter": _("Meter"),
        "invoice": _("Invoice"),
        "order": _("Order"),
        "shipment": _("Shipment"),
        "case": _("Case"),
    }


def case_term(value: object) -> str:
    """The reader's-language name of an enum value (its ``.value`` or the text)."""
    key = str(getattr(value, "value", value))
    return str(terms().get(key, key))


def history_text(entry: Any) -> str:
    """A history line in the reader's language (``entry``: a ``HistoryEntry``)."""
    detail = str(entry.detail)
    status, _sep, reason = detail.partition(": ")
    texts: dict[str, Any] = {
        "opened": _("Case opened"),
        "status": _("Status: %(status)s", status=case_term(status)),
        "reply": _("Support replied"),
        "message": _("Customer wrote"),
        "reopened": _("Case reopened"),
        "closed": _("Case closed"),
        "merged": _("Merged with %(number)s", number=detail),
        "follow-up": _("Follow-up of %(number)s", number=detail),
        "note": _("Internal note"),
        "assigned": _("Assigned"),
        "priority": _("Priority: %(priority)s", priority=case_term(detail)),
        "recurring": _("Flagged as recurring"),
        "link": _("Linked: %(link)s", link=detail),
    }
    text = str(texts.get(str(entry.action), entry.action))
    if entry.action == "status" and reason:
        text = f"{text} ({reason})"
    return text


def may_supervise() -> bool:
    """Whether the signed-in person is a supervisor or a staff admin."""
    user = current_user()
    return user is not None and has_role(user, SUPERVISORS)


def departments() -> list[str]:
    return [department.value for department in Department]


def placeholder(name: str) -> str:
    return "{" + name + "}"


def filesize(size: int) -> str:
    """A file's size with the reader's decimal mark (``980 B``, ``12.5 kB``, ``1,2 MB``)."""
    if size < 1000:
        return f"{size} B"
    if size < 10**6:
        return f"{format_decimal(size / 1000, format='#,##0.#')} kB"
    return f"{format_decimal(size / 10**6, format='#,##0.#')} MB"


def staff_role(role: str) -> str:
    roles: dict[str, Any] = {
        "agent": _("Agent"),
        "supervisor": _("Supervisor"),
        "account-manager": _("Account manager"),
        "admin": _("Administrator"),
    }
    return str(roles.get(role, role))


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        case_term=case_term,
        placeholder=placeholder,
        history_text=history_text,
        filesize=filesize,
        staff_role=staff_role,
    )
    app.jinja_env.globals.update(
        console_may_supervise=may_supervise,
        console_departments=departments,
        attachment_max_mb=max_megabytes,
    )
