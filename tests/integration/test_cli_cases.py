"""``postroom cases`` on the real store: open with --json printing the number, show with
the SLA and the messages, reply, note, assign, escalate, merge, close, list's filters,
the report as JSON and CSV, and bad input as a stable code with exit 1 or 2."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from click.testing import CliRunner

from postroom.frontends.cli import cli


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.output) if "--json" in args and code == 0 else result.output


def customer(runner: CliRunner) -> str:
    created = run(
        runner, "accounts", "create", "--name", "Acme", "--country", "US", "--currency", "USD",
        "--json",
    )  # fmt: skip
    return str(created["number"])


def open_case(runner: CliRunner, number: str, *extra: str) -> dict[str, Any]:
    return run(  # type: ignore[no-any-return]
        runner, "cases", "open", "--account", number, "--subject", "Meter jams",
        "--channel", "phone", *extra, "--json",
    )  # fmt: skip


def test_open_then_show_with_its_sla_and_messages(runner: CliRunner) -> None:
    number = customer(runner)
    opened = open_case(
        runner, number, "--priority", "high", "--contact-name", "Dana Caller",
        "--contact-phone", "+1 212 555 0100", "--link", "meter:PR-1",
    )  # fmt: skip
    assert re.fullmatch(r"C-\d{4}-000001", opened["number"])
    assert opened["department"] == "equipment"
    assert opened["contact"]["phone"] == "+1 212 555 0100"
    shown = run(runner, "cases", "show", opened["number"], "--json")
    for field in ("first_response_due", "resolution_due"):
        assert datetime.fromisoformat(shown["sla"][field])
    assert datetime.fromisoformat(shown["opened_at"])
    assert shown["messages"][0]["body"] == "Meter jams"
    assert shown["messages"][0]["author"]["name"] == "Dana Caller"
    assert shown["links"] == [{"kind": "meter", "reference": "PR-1"}]


def test_reply_note_assign_escalate_merge_close(runner: CliRunner) -> None:
    number = customer(runner)
    first = open_case(runner, number)["number"]
    second = open_case(runner, number)["number"]
    replied = run(runner, "cases", "reply", first, "--body", "Try a reset", "--json")
    assert replied["status"] == "open"
    run(runner, "cases", "note", first, "--body", "firmware 4.1 known bad")
    assigned = run(runner, "cases", "assign", first, "--to", "12", "--json")
    assert assigned["assignee_id"] == 12
    escalated = run(runner, "cases", "escalate", first, "--reason", "deadline", "--json")
    assert escalated["status"] == "escalated"
    queue = run(runner, "cases", "list", "--priority-queue", "--json")
    assert [c["number"] for c in queue] == [first]
    merged = run(runner, "cases", "merge", second, "--into", first, "--json")
    assert merged["number"] == first
    kinds = [m["kind"] for m in merged["messages"]]
    assert kinds == ["customer", "customer", "agent", "note"]  # in the order written
    resolved = run(runner, "cases", "show", second, "--json")
    assert resolved["number"] == first  # the merged number resolves to the survivor
    closed = run(runner, "cases", "close", first, "--json")
    assert closed["status"] == "closed"
    assert run(runner, "cases", "list", "--status", "closed", "--json")[0]["number"] == first


def test_list_filters_and_the_report(runner: CliRunner) -> None:
    number = customer(runner)
    urgent = open_case(runner, number, "--priority", "urgent", "--department", "billing")
    open_case(runner, number, "--priority", "low")
    billing = run(runner, "cases", "list", "--department", "billing", "--json")
    assert [c["number"] for c in billing] == [urgent["number"]]
    mine = run(runner, "cases", "list", "--account", number, "--priority", "low", "--json")
    assert len(mine) == 1
    report = run(runner, "cases", "report", "--json")
    assert report["total"]["opened"] == 2
    assert {r["key"] for r in report["by_department"]} == {"billing", "equipment"}
    text = run(runner, "cases", "report", "--format", "csv")
    assert text.splitlines()[0].startswith("group,key,opened,resolved")
    assert "total,all,2,0" in text


def test_bad_input_is_a_stable_code(runner: CliRunner) -> None:
    number = customer(runner)
    assert "[case_not_found]" in run(runner, "cases", "show", "C-2026-999999", code=1)
    assert "[case_not_found]" in run(runner, "cases", "show", "'; drop table", code=1)
    bad_channel = run(
        runner, "cases", "open", "--account", number, "--subject", "x", "--channel", "fax",
        code=2,
    )  # fmt: skip
    assert "--channel" in bad_channel
    bad_link = run(
        runner, "cases", "open", "--account", number, "--subject", "x", "--channel", "web",
        "--link", "nothing", code=1,
    )  # fmt: skip
    assert "[invalid_link]" in bad_link
    assert "[missing_reason]" in run(
        runner, "cases", "escalate", open_case(runner, number)["number"], "--reason", " ", code=1
    )
    assert "[missing_subject]" in run(
        runner, "cases", "open", "--account", number, "--subject", " ", "--channel", "web", code=1
    )
    assert "no cases" in run(runner, "cases", "list", "--breached")
