"""Rules of support cases: numbers, transitions, the reopen window, routing by rules,
the recurring flag, the SLA targets. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postroom.core.cases import model, routing
from postroom.core.cases.model import (
    Case,
    Channel,
    Contact,
    Department,
    Link,
    LinkKind,
    Priority,
    Status,
)
from postroom.core.errors import ValidationError

NOW = datetime(2026, 3, 4, 10, tzinfo=UTC)


def a_case(status: Status = Status.NEW, **changes: object) -> Case:
    case = Case(
        id=1,
        number="C-2026-000001",
        customer_number="1000000009",
        contact=Contact(),
        department=Department.EQUIPMENT,
        channel=Channel.WEB,
        subject="s",
        description="d",
        priority=Priority.NORMAL,
        status=status,
        opened_at=NOW,
        updated_at=NOW,
    )
    for name, value in changes.items():
        setattr(case, name, value)
    return case


def test_numbers_are_readable_and_checked():
    assert model.format_case_number(2026, 123) == "C-2026-000123"
    assert model.parse_case_number(" [c-2026-000123] ") == "C-2026-000123"
    for bad in ("C-2026-12", "C-26-000001", "X-2026-000001", "", None, "C-2026-000001; drop"):
        with pytest.raises(ValidationError) as caught:
            model.parse_case_number(bad)
        assert caught.value.code == "invalid_case_number"
    with pytest.raises(ValidationError) as caught:
        model.format_case_number(2026, 1_000_000)
    assert caught.value.code == "case_numbers_exhausted"


@pytest.mark.parametrize(
    ("start", "to", "allowed"),
    [
        (Status.NEW, Status.OPEN, True),
        (Status.OPEN, Status.WAITING, True),
        (Status.WAITING, Status.OPEN, True),
        (Status.ESCALATED, Status.RESOLVED, True),
        (Status.RESOLVED, Status.OPEN, True),
        (Status.RESOLVED, Status.CLOSED, True),
        (Status.RESOLVED, Status.WAITING, False),
        (Status.CLOSED, Status.OPEN, False),
        (Status.CLOSED, Status.RESOLVED, False),
    ],
)
def test_transitions(start: Status, to: Status, allowed: bool):
    case = a_case(start)
    if allowed:
        model.check_transition(case, to)
    else:
        with pytest.raises(ValidationError) as caught:
            model.check_transition(case, to)
        assert caught.value.code == "invalid_transition"


def test_a_reply_reopens_within_the_window_else_opens_a_follow_up():
    resolved = a_case(Status.RESOLVED, resolved_at=NOW)
    assert model.reply_reopens(resolved, NOW + timedelta(days=7), 7) is True
    assert model.reply_reopens(resolved, NOW + timedelta(days=7, seconds=1), 7) is False
    assert model.reply_reopens(a_case(Status.CLOSED, closed_at=NOW), NOW, 7) is False
    assert model.reply_reopens(a_case(Status.WAITING), NOW, 7) is None


def test_recurring_from_the_third_case():
    assert not model.is_recurring_count(2)
    assert model.is_recurring_count(3)


def test_statuses_parse_with_their_spoken_names():
    assert model.parse_status("waiting on customer") is Status.WAITING
    assert model.parse_status("Waiting_On_Customer") is Status.WAITING
    with pytest.raises(ValidationError) as caught:
        model.parse_status("pending")
    assert caught.value.code == "invalid_status"


def test_text_is_checked():
    with pytest.raises(ValidationError) as caught:
        model.parse_subject("   ")
    assert caught.value.code == "missing_subject"
    with pytest.raises(ValidationError) as caught:
        model.parse_subject("x" * 201)
    assert caught.value.code == "subject_too_long"
    with pytest.raises(ValidationError) as caught:
        model.parse_subject("bell\x07")
    assert caught.value.code == "control_character"
    assert model.parse_body("line one\nline two") == "line one\nline two"


def test_links_are_checked():
    assert model.parse_link("shipment", "9400 1000 0000") == Link(
        LinkKind.SHIPMENT, "9400 1000 0000"
    )
    with pytest.raises(ValidationError) as caught:
        model.parse_link("parcel", "x")
    assert caught.value.code == "invalid_link"


def test_sla_targets_from_settings():
    targets = model.sla_targets(
        "urgent=1,high=2,normal=3,low=4", "urgent=8,high=16,normal=40,low=80"
    )
    assert targets.first_response[Priority.LOW] == 4
    for bad in (
        "urgent=1,high=2",
        "urgent=x,high=2,normal=3,low=4",
        "urgent=0,high=2,normal=3,low=4",
    ):
        with pytest.raises(ValidationError) as caught:
            model.sla_targets(bad, "urgent=8,high=16,normal=40,low=80")
        assert caught.value.code == "invalid_sla_targets"


def test_the_next_deadline_stands_still_while_waiting_and_after_resolution():
    due = NOW + timedelta(hours=8)
    running = a_case(Status.OPEN, first_response_due=due, resolution_due=due + timedelta(days=3))
    assert running.next_due == due
    responded = a_case(
        Status.OPEN,
        first_response_at=NOW,
        first_response_due=due,
        resolution_due=due + timedelta(days=3),
    )
    assert responded.next_due == due + timedelta(days=3)
    assert a_case(Status.WAITING, waiting_since=NOW, resolution_due=due).next_due is None
    assert a_case(Status.RESOLVED, resolution_due=due).next_due is None


@pytest.mark.parametrize(
    ("subject", "links", "channel", "department"),
    [
        ("My meter shows an error", (), Channel.WEB, Department.EQUIPMENT),
        ("Question", (Link(LinkKind.INVOICE, "INV-1"),), Channel.WEB, Department.BILLING),
        ("Where is it", (Link(LinkKind.SHIPMENT, "9400"),), Channel.PHONE, Department.TRACKING),
        ("Mon colis est perdu", (), Channel.EMAIL, Department.TRACKING),
        ("Wrong refund on my invoice", (), Channel.EMAIL, Department.BILLING),
        ("Cannot sign in to the portal", (), Channel.WEB, Department.SOFTWARE),
        ("Hello", (), Channel.MAIL, Department.BILLING),
        ("Hello", (), Channel.CHAT, Department.SOFTWARE),
    ],
)
def test_routing_rules(
    subject: str, links: tuple[Link, ...], channel: Channel, department: Department
):
    assert routing.department_for(subject, "", channel, links) is department
