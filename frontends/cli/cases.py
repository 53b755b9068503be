"""``postroom cases``: support cases from the command line (staff).

The CLI has no login of its own: its trust is access to the installation's settings and
database (docs/security.md), so it acts as staff with every right. ``--as EMAIL`` (or
``POSTROOM_STAFF``) names the staff user it acts for, for the history and the
supervisors' rights; without it the history says ``staff:cli``. Customers use the portal
and the API.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from postroom.core.app import Postroom
from postroom.core.cases.model import (
    Actor,
    ActorKind,
    Channel,
    Contact,
    Department,
    Link,
    Priority,
    QueueFilter,
    Status,
    parse_channel,
    parse_department,
    parse_link,
    parse_priority,
    parse_status,
)
from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.frontends.cli.options import (
    account_option,
    amount_option,
    json_option,
    limit_option,
    offset_option,
)
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise.cases import (
    agent_json,
    case_json,
    claim_json,
    detail_json,
    report_json,
)

as_option = click.option(
    "--as",
    "as_staff",
    metavar="EMAIL",
    envvar="POSTROOM_STAFF",
    default=None,
    help="The staff user to act as (default: the command line itself, with every right).",
)
CLI_ACTOR = Actor(ActorKind.STAFF, "cli", "command line", role="admin")


def _actor(pr: Postroom, email: str | None) -> Actor:
    if not email:
        return CLI_ACTOR
    user = pr.identity.by_email(email)
    if not user.staff:
        raise NotFound(f"no staff user {email}", code="staff_not_found")
    return Actor.staff(user.id, user.name, role=user.role)


def _staff_id(pr: Postroom, who: str) -> int:
    """A staff user named by id or email."""
    if who.isascii() and who.isdigit() and len(who) <= 18:
        return int(who)
    user = pr.identity.by_email(who)
    if not user.staff:
        raise NotFound(f"no staff user {who}", code="staff_not_found")
    return user.id


def _choice(values: type[Any]) -> click.Choice[str]:
    return click.Choice([member.value for member in values])


@click.group()
def cases() -> None:
    """Support cases: queues, replies, notes, escalation, merge, reports (staff)."""


@cases.command("list")
@account_option(required=False, param="customer_number")
@click.option("--status", "statuses", multiple=True, type=_choice(Status), help="Repeatable.")
@click.option("--department", type=_choice(Department), default=None)
@click.option("--assignee", default=None, metavar="ID|EMAIL", help="Cases of this staff user.")
@click.option("--unassigned", is_flag=True, help="Cases nobody has taken.")
@click.option("--priority", type=_choice(Priority), default=None)
@click.option("--channel", type=_choice(Channel), default=None)
@click.option(
    "--due-within",
    type=click.IntRange(1, 24 * 365),
    default=None,
    metavar="HOURS",
    help="Next deadline within this many hours.",
)
@click.option("--breached", is_flag=True, help="Past a running deadline.")
@click.option("--escalated", is_flag=True, help="Escalated and still active.")
@click.option("--priority-queue", is_flag=True, help="The supervisors' queue.")
@limit_option()
@offset_option
@json_option
@as_option
@pass_state
def list_(
    state: CliState,
    customer_number: str | None,
    statuses: tuple[str, ...],
    department: str | None,
    assignee: str | None,
    unassigned: bool,
    priority: str | None,
    channel: str | None,
    due_within: int | None,
    breached: bool,
    escalated: bool,
    priority_queue: bool,
    limit: int,
    offset: int,
    as_json: bool,
    as_staff: str | None,
) -> None:
    """The queue under the filters, the nearest deadline first."""
    pr = state.postroom()
    by = _actor(pr, as_staff)
    if priority_queue:
        found = pr.cases.priority_queue(by=by, limit=limit, offset=offset)
    else:
        found = pr.cases.queue(
            QueueFilter(
                statuses=tuple(parse_status(s) for s in statuses),
                department=None if department is None else parse_department(department),
                assignee_id=None if assignee is None else _staff_id(pr, assignee),
                unassigned=unassigned,
                priority=None if priority is None else parse_priority(priority),
                channel=None if channel is None else parse_channel(channel),
                customer_number=customer_number,
                due_within=None if due_within is None else timedelta(hours=due_within),
                breached=breached,
                escalated=escalated,
                limit=limit,
                offset=offset,
            ),
            by=by,
        )
    views = pr.cases.slas(found)
    rows = [case_json(c, v, staff=True) for c, v in zip(found, views, strict=True)]
    emit(rows, as_json, _table)


@cases.command()
@click.argument("number")
@json_option
@as_option
@pass_state
def show(state: CliState, number: str, as_json: bool, as_staff: str | None) -> None:
    """One case with its thread (notes included), history and SLA."""
    pr = state.postroom()
    detail = pr.cases.get_for_staff(number, by=_actor(pr, as_staff))
    emit(detail_json(detail, pr.cases.sla(detail.case), staff=True), as_json, _detail)


def _links(values: tuple[str, ...]) -> list[Link]:
    links = []
    for value in values:
        kind, _, reference = value.partition(":")
        if not reference:
            raise ValidationError("a link is KIND:REFERENCE, e.g. meter:PR-1", code="invalid_link")
        links.append(parse_link(kind, reference))
    return links


@cases.command("open")
@account_option(required=False, param="customer_number")
@click.option("--subject", required=True)
@click.option("--channel", required=True, type=_choice(Channel))
@click.option("--priority", type=_choice(Priority), default="normal", show_default=True)
@click.option("--department", type=_choice(Department), default=None, help="Default: by rules.")
@click.option("--description", default=None, help="What the customer said (default: the subject).")
@click.option("--contact-name", default="", help="The caller's or writer's name.")
@click.option("--contact-email", default="")
@click.option("--contact-phone", default="")
@click.option("--contact-details", default="", help="A postal address, a social-media handle...")
@click.option("--link", "links", multiple=True, metavar="KIND:REF", help="meter:, invoice:...")
@json_option
@as_option
@pass_state
def open_(
    state: CliState,
    customer_number: str | None,
    subject: str,
    channel: str,
    priority: str,
    department: str | None,
    description: str | None,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
    contact_details: str,
    links: tuple[str, ...],
    as_json: bool,
    as_staff: str | None,
) -> None:
    """Log a contact as a case (a call, a letter, a social-media message); prints its
    number."""
    pr = state.postroom()
    case = pr.cases.open(
        by=_actor(pr, as_staff),
        customer_number=customer_number,
        subject=subject,
        description=description if description is not None else subject,
        channel=channel,
        priority=priority,
        department=department,
        contact=Contact(contact_name, contact_email.lower(), contact_phone, contact_details),
        links=_links(links),
    )
    emit(case_json(case, pr.cases.sla(case), staff=True), as_json, lambda d: d["number"])


@cases.command()
@click.argument("number")
@click.option("--body", required=True, help="The reply to the customer.")
@click.option("--status", type=_choice(Status), default=None, help="Move the case too.")
@json_option
@as_option
@pass_state
def reply(
    state: CliState, number: str, body: str, status: str | None, as_json: bool, as_staff: str | None
) -> None:
    """Reply to the customer."""
    pr = state.postroom()
    pr.cases.reply(number, body, by=_actor(pr, as_staff), status=status)
    _show_case(pr, number, as_json, "replied to")


@cases.command()
@click.argument("number")
@click.option("--body", required=True, help="The note (staff only ever see it).")
@json_option
@as_option
@pass_state
def note(state: CliState, number: str, body: str, as_json: bool, as_staff: str | None) -> None:
    """Add an internal note."""
    pr = state.postroom()
    pr.cases.add_note(number, body, by=_actor(pr, as_staff))
    _show_case(pr, number, as_json, "noted on")


@cases.command()
@click.argument("number")
@click.option("--to", "to", default=None, metavar="ID|EMAIL", help="The staff user.")
@click.option("--unassign", is_flag=True, help="Back to the department's queue.")
@json_option
@as_option
@pass_state
def assign(
    state: CliState,
    number: str,
    to: str | None,
    unassign: bool,
    as_json: bool,
    as_staff: str | None,
) -> None:
    """Give the case to a staff user (or back to the queue)."""
    if (to is None) == (not unassign):
        raise click.UsageError("give --to ID|EMAIL or --unassign")
    pr = state.postroom()
    assignee = None if unassign else _staff_id(pr, to or "")
    pr.cases.assign(number, assignee, by=_actor(pr, as_staff))
    _show_case(pr, number, as_json, "assigned")


@cases.command()
@click.argument("number")
@click.option("--reason", required=True, help="Urgency, a deadline, a recurring problem...")
@json_option
@as_option
@pass_state
def escalate(
    state: CliState, number: str, reason: str, as_json: bool, as_staff: str | None
) -> None:
    """Escalate to the supervisors' priority queue, with a reason."""
    pr = state.postroom()
    pr.cases.escalate(number, reason, by=_actor(pr, as_staff))
    _show_case(pr, number, as_json, "escalated")


@cases.command()
@click.argument("duplicate")
@click.option("--into", "into", required=True, metavar="NUMBER", help="The case that stays.")
@json_option
@as_option
@pass_state
def merge(state: CliState, duplicate: str, into: str, as_json: bool, as_staff: str | None) -> None:
    """Merge a duplicate case into another: threads and links combined."""
    pr = state.postroom()
    survivor = pr.cases.merge(duplicate, into, by=_actor(pr, as_staff))
    _show_case(pr, survivor.number, as_json, f"merged {duplicate.upper()} into")


@cases.command()
@click.argument("number")
@json_option
@as_option
@pass_state
def close(state: CliState, number: str, as_json: bool, as_staff: str | None) -> None:
    """Close the case."""
    pr = state.postroom()
    pr.cases.close(number, by=_actor(pr, as_staff))
    _show_case(pr, number, as_json, "closed")


def _day(value: datetime | None, default: datetime) -> datetime:
    return default if value is None else value.replace(tzinfo=UTC)


@cases.command()
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv"]),
    default="table",
    show_default=True,
)
@json_option
@as_option
@pass_state
def report(
    state: CliState,
    since: datetime | None,
    until: datetime | None,
    output: str,
    as_json: bool,
    as_staff: str | None,
) -> None:
    """Volume by channel and department, response and resolution times in business
    hours, SLA attainment and backlog of the cases opened in [since, until) (default:
    the last 30 days)."""
    pr = state.postroom()
    now = pr.clock.now()
    end = _day(until, now)
    start = _day(since, end - timedelta(days=30))
    data = report_json(pr.cases.report(start, end, by=_actor(pr, as_staff)))
    emit(data, as_json, _report_csv if output == "csv" else _report_table)


def _show_case(pr: Postroom, number: str, as_json: bool, verb: str) -> None:
    detail = pr.cases.get_for_staff(number, by=CLI_ACTOR)
    emit(
        detail_json(detail, pr.cases.sla(detail.case), staff=True),
        as_json,
        lambda d: f"{verb} {d['number']} ({d['status']})",
    )


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no cases"
    return "\n".join(
        f"{r['number']}  {r['status']:<19}  {r['priority']:<6}  {r['department']:<9}  "
        f"{r['channel']:<6}  due {r['sla']['resolution_due']}  {r['subject']}"
        for r in rows
    )


def _detail(d: dict[str, Any]) -> str:
    sla = d["sla"]
    lines = [
        f"{d['number']}  {d['subject']}",
        f"{d['status']}, {d['priority']}, {d['department']}, by {d['channel']}, "
        f"account {d['customer_number'] or '-'}, assignee {d['assignee_id'] or '-'}",
        f"opened {d['opened_at']}; first response due {sla['first_response_due']}, "
        f"resolution due {sla['resolution_due']}" + (" (paused)" if sla["paused"] else ""),
    ]
    for m in d["messages"]:
        lines.append(f"--- {m['kind']} by {m['author']['name']} at {m['created_at']}")
        lines.append(m["body"])
    return "\n".join(lines)


_REPORT_COLUMNS = (
    "key",
    "opened",
    "resolved",
    "first_response_hours",
    "resolution_hours",
    "sla_attainment",
    "backlog",
    "oldest_backlog_days",
)


def _report_rows(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        *(("channel", r) for r in data["by_channel"]),
        *(("department", r) for r in data["by_department"]),
        ("total", data["total"]),
    ]


def _report_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("group", *_REPORT_COLUMNS))
    for group, row in _report_rows(data):
        writer.writerow((group, *("" if row[c] is None else row[c] for c in _REPORT_COLUMNS)))
    return out.getvalue().rstrip("\n")


def _report_table(data: dict[str, Any]) -> str:
    lines = [f"cases opened {data['since']} to {data['until']}"]
    lines.append(
        f"{'group':<10} {'key':<10} {'opened':>6} {'resolved':>8} {'1st resp h':>10} "
        f"{'resol. h':>8} {'SLA met':>7} {'backlog':>7}"
    )
    for group, r in _report_rows(data):
        met = "-" if r["sla_attainment"] is None else f"{r['sla_attainment']:.0%}"
        first = "-" if r["first_response_hours"] is None else f"{r['first_response_hours']:.1f}"
        res = "-" if r["resolution_hours"] is None else f"{r['resolution_hours']:.1f}"
        lines.append(
            f"{group:<10} {r['key']:<10} {r['opened']:>6} {r['resolved']:>8} {first:>10} "
            f"{res:>8} {met:>7} {r['backlog']:>7}"
        )
    return "\n".join(lines)


@cases.command()
@click.option("--user", "user", required=True, metavar="ID|EMAIL", help="The staff user.")
@click.option(
    "--department",
    "departments",
    multiple=True,
    type=_choice(Department),
    help="A desk they serve (repeatable; none: off every desk).",
)
@click.option("--away", is_flag=True, help="They take no new cases for now.")
@json_option
@as_option
@pass_state
def desk(
    state: CliState,
    user: str,
    departments: tuple[str, ...],
    away: bool,
    as_json: bool,
    as_staff: str | None,
) -> None:
    """Put a staff user on department desks for routing (supervisors; anyone for
    themselves)."""
    pr = state.postroom()
    agent = pr.cases.set_agent(
        _staff_id(pr, user), departments=departments, available=not away, by=_actor(pr, as_staff)
    )
    emit(agent_json(agent), as_json, _desk_line)


@cases.command()
@click.option("--department", type=_choice(Department), default=None)
@json_option
@as_option
@pass_state
def desks(state: CliState, department: str | None, as_json: bool, as_staff: str | None) -> None:
    """The staff on the desks, with their departments and availability."""
    pr = state.postroom()
    found = [agent_json(a) for a in pr.cases.agents(department, by=_actor(pr, as_staff))]
    emit(found, as_json, lambda rows: "\n".join(map(_desk_line, rows)) or "nobody on the desks")


def _desk_line(d: dict[str, Any]) -> str:
    where = ", ".join(d["departments"]) or "no desk"
    return f"{d['user_id']:>6}  {d['name']:<30}  {where}  {'' if d['available'] else '(away)'}"


@cases.command("account")
@account_option(param="customer_number")
@click.option("--time-zone", default=None, help="IANA time zone of its business hours.")
@click.option("--subdivision", default=None, help="State or province whose holidays count.")
@click.option("--manager", default=None, metavar="ID|EMAIL", help="Its account manager.")
@json_option
@as_option
@pass_state
def account(
    state: CliState,
    customer_number: str,
    time_zone: str | None,
    subdivision: str | None,
    manager: str | None,
    as_json: bool,
    as_staff: str | None,
) -> None:
    """Show an account's support settings, or set them (supervisors): the calendar of
    its SLAs and its account manager."""
    pr = state.postroom()
    by = _actor(pr, as_staff)
    if time_zone is not None or subdivision is not None or manager is not None:
        pr.cases.set_account_profile(
            customer_number,
            time_zone=time_zone,
            subdivision=subdivision,
            account_manager_id=None if manager is None else _staff_id(pr, manager),
            by=by,
        )
    profile = pr.cases.account_profile(customer_number, by=by)
    data = {
        "customer_number": profile.customer_number,
        "time_zone": profile.time_zone,
        "subdivision": profile.subdivision,
        "account_manager_id": profile.account_manager_id,
    }
    emit(
        data,
        as_json,
        lambda d: (
            f"{d['customer_number']}: {d['time_zone']}"
            f"{' (' + d['subdivision'] + ')' if d['subdivision'] else ''}, "
            f"account manager {d['account_manager_id'] or '-'}"
        ),
    )


@cases.command()
@click.argument("number")
@click.option(
    "--decide",
    type=click.Choice(["refund", "reshipment", "denied"]),
    default=None,
    help="Decide the claim (a refund: supervisors only).",
)
@amount_option(required=False, help='The refund, e.g. "45.00 USD" (at most the declared value).')
@click.option("--reason", default="", help="Why (required to deny).")
@click.option("--reshipment", default="", help="The new shipment's tracking number.")
@json_option
@as_option
@pass_state
def claim(
    state: CliState,
    number: str,
    decide: str | None,
    amount: Money | None,
    reason: str,
    reshipment: str,
    as_json: bool,
    as_staff: str | None,
) -> None:
    """Show a trace-and-claim case's claim (documents still missing), or decide it: a
    refund credits the customer's postage account once."""
    pr = state.postroom()
    by = _actor(pr, as_staff)
    if decide is not None:
        pr.cases.decide_claim(
            number, decide, by=by, amount=amount, reason=reason, reshipment=reshipment
        )
    view = pr.cases.claim_for_staff(number, by=by)
    data = {"number": view.case.number, **claim_json(view.claim)}
    emit(data, as_json, _claim_text)


def _claim_text(d: dict[str, Any]) -> str:
    missing = ", ".join(m["name"] for m in d["missing"]) or "none"
    value = d["declared_value"]
    lines = [
        f"{d['number']}  {d['kind']} parcel {d['tracking_number']}, declared "
        f"{value['amount']} {value['currency']}, documents due {d['deadline']}",
        f"missing: {missing}",
        f"outcome: {d['outcome']}",
    ]
    return "\n".join(lines)
