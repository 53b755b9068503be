"""``postroom cases`` on the real store: open with --json printing the number, show with
the SLA and the messages, reply, note, assign, escalate, merge, close, list's filters,
the report as JSON and CSV, and bad input as a stable code with exit 1 or 2."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.cases.model import Actor, AttachmentRef
from postroom.core.config import Config
from postroom.core.money import Money
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


def staff_user(cli_env: dict[str, str], email: str, role: str) -> int:
    config = Config.load(
        {}, database_url=cli_env["POSTROOM_DATABASE_URL"], data_dir=cli_env["POSTROOM_DATA_DIR"]
    )
    with Postroom.open(config=config) as pr:
        link = pr.identity.invite_staff(email, role)
        user = pr.identity.accept_invitation(
            link.token,
            name=email.split("@")[0].title(),
            password="correct horse battery staple 9",
            security_question="Which desk?",
            security_answer="the front desk",
            phone="+1 212 555 0100",
            language="en",
        )
        return user.id


def test_desks_account_managers_and_routing(runner: CliRunner, cli_env: dict[str, str]) -> None:
    number = customer(runner)
    agent = staff_user(cli_env, "agent@support.example", "agent")
    manager = staff_user(cli_env, "manager@support.example", "account-manager")
    placed = run(
        runner, "cases", "desk", "--user", "agent@support.example", "--department", "billing",
        "--json",
    )  # fmt: skip
    assert placed == {
        "user_id": agent,
        "name": "Agent",
        "departments": ["billing"],
        "available": True,
    }
    assert [d["user_id"] for d in run(runner, "cases", "desks", "--json")] == [agent]
    billed = open_case(runner, number, "--department", "billing")
    assert billed["assignee_id"] == agent
    profile = run(
        runner, "cases", "account", "--account", number, "--manager", str(manager),
        "--time-zone", "America/Chicago", "--subdivision", "IL", "--json",
    )  # fmt: skip
    assert profile["account_manager_id"] == manager
    managed = open_case(runner, number, "--department", "billing")
    assert managed["assignee_id"] == manager
    assert managed["sla"]["time_zone"] == "America/Chicago"
    bad = run(runner, "cases", "account", "--account", number, "--time-zone", "Mars/Base", code=1)
    assert "[invalid_time_zone]" in bad
    not_staff = run(runner, "cases", "desk", "--user", "99999", "--department", "billing", code=1)
    assert "[staff_not_found]" in not_staff


def test_a_claim_is_shown_and_refunded_once_from_the_cli(
    runner: CliRunner, cli_env: dict[str, str]
) -> None:
    number = customer(runner)
    config = Config.load(
        {}, database_url=cli_env["POSTROOM_DATABASE_URL"], data_dir=cli_env["POSTROOM_DATA_DIR"]
    )
    with Postroom.open(config=config) as pr:
        who = Actor.customer(number, 1, "Chris")
        view = pr.cases.file_claim(
            by=who,
            tracking_number="9400100000000000000123",
            kind="lost",
            declared_value=Money.parse("30.00 USD"),
            description="Never arrived",
        )
        case_number = view.case.number
    shown = run(runner, "cases", "claim", case_number, "--json")
    assert [m["document"] for m in shown["missing"]] == [
        "proof_of_mailing",
        "shipment_details",
        "proof_of_value",
    ]
    refused = run(
        runner, "cases", "claim", case_number, "--decide", "refund", "--amount", "30.00 USD",
        code=1,
    )  # fmt: skip
    assert "[claim_documents_missing]" in refused
    with Postroom.open(config=config) as pr:
        for document in ("proof_of_mailing", "shipment_details", "proof_of_value"):
            ref = AttachmentRef(document[0] * 64, f"{document}.pdf", "application/pdf", 10)
            pr.cases.add_claim_document(case_number, document, ref, by=who)
    decided = run(
        runner, "cases", "claim", case_number, "--decide", "refund", "--amount", "30.00 USD",
        "--json",
    )  # fmt: skip
    assert decided["outcome"] == "refund"
    assert decided["refunded"] == {"amount": "30.00", "currency": "USD"}
    again = run(
        runner, "cases", "claim", case_number, "--decide", "refund", "--amount", "30.00 USD",
        code=1,
    )  # fmt: skip
    assert "[claim_decided]" in again
    deposits = run(runner, "vault", "manual-deposits", "--account", number, "--json")
    assert [d["reference"] for d in deposits] == [case_number]
