"""``postroom users``: portal users and staff managed by an admin on the CLI, and the
identity area's job, on the real database."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.errors import Unauthenticated
from postroom.core.identity.model import Registration
from postroom.frontends.cli import cli


def _account(runner: CliRunner) -> str:
    created = runner.invoke(
        cli,
        ["accounts", "create", "--name", "Acme", "--country", "US", "--currency", "USD", "--json"],
    )
    assert created.exit_code == 0, created.output
    return str(json.loads(created.output)["number"])


def _json(runner: CliRunner, *args: str) -> object:
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_users_are_invited_listed_given_roles_and_removed(
    runner: CliRunner, cli_env: dict[str, str]
) -> None:
    number = _account(runner)
    owner = _json(
        runner,
        "users",
        "add",
        "--account",
        number,
        "--email",
        "Boss@Example.com",
        "--role",
        "owner",
    )
    assert owner["email"] == "boss@example.com"
    assert (owner["role"], owner["status"], owner["account"]) == ("owner", "invited", number)
    _json(
        runner, "users", "add", "--account", number, "--email", "op@example.com", "--role", "user"
    )
    listed = _json(runner, "users", "list", "--account", number)
    assert [(u["email"], u["role"]) for u in listed] == [
        ("boss@example.com", "owner"),
        ("op@example.com", "user"),
    ]
    changed = _json(
        runner,
        "users",
        "set-role",
        "--account",
        number,
        "--email",
        "op@example.com",
        "--role",
        "admin",
    )
    assert changed["role"] == "admin"
    removed = runner.invoke(
        cli, ["users", "remove", "--account", number, "--email", "op@example.com"]
    )
    assert removed.exit_code == 0, removed.output
    assert [u["email"] for u in _json(runner, "users", "list", "--account", number)] == [
        "boss@example.com"
    ]


def test_staff_are_invited_with_staff_roles_only(runner: CliRunner) -> None:
    agent = _json(
        runner, "users", "add", "--staff", "--email", "agent@example.com", "--role", "agent"
    )
    assert (agent["staff"], agent["account"], agent["role"]) == (True, None, "agent")
    wrong = runner.invoke(
        cli, ["users", "add", "--staff", "--email", "x@example.com", "--role", "owner"]
    )
    assert wrong.exit_code == 1
    assert "[invalid_role]" in wrong.output
    assert [u["email"] for u in _json(runner, "users", "list", "--staff")] == ["agent@example.com"]


def test_bad_input_is_a_clear_error(runner: CliRunner) -> None:
    number = _account(runner)
    for args, code in (
        (
            ["users", "add", "--account", number, "--email", "not-an-email", "--role", "user"],
            "[invalid_email]",
        ),
        (
            [
                "users",
                "add",
                "--account",
                "1234567897",  # a well-formed number no account has
                "--email",
                "a@example.com",
                "--role",
                "user",
            ],
            "[account_not_found]",
        ),
        (
            ["users", "remove", "--account", number, "--email", "nobody@example.com"],
            "[user_not_found]",
        ),
        (["users", "list", "--account", "0000000000"], "[invalid_account_number]"),
        (
            [
                "users",
                "add",
                "--account",
                "1234567890",
                "--email",
                "a@example.com",
                "--role",
                "user",
            ],
            "[invalid_account_number]",
        ),
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert code in result.output, result.output
    usage = runner.invoke(cli, ["users", "list"])  # neither --account nor --staff
    assert usage.exit_code == 2


def test_the_last_active_owner_keeps_the_role(config: Config, clock: FrozenClock) -> None:
    with Postroom.open(config=config, clock=clock, immediate_jobs=True) as pr:
        pr.identity.register(
            Registration(
                email="ann@example.com",
                password="correct horse battery staple",
                security_question="Q?",
                security_answer="A",
                name="Ann",
                company="Acme",
                phone="+1 202 555 0143",
            )
        )
        message = pr.outbox.messages(recipient="ann@example.com")[0]
        token = re.search(r"/account/verify/(\S+)", message.notification.body).group(1)
        ann = pr.identity.verify(token)
    runner = CliRunner(
        env={
            "POSTROOM_DATABASE_URL": config.resolved_database_url,
            "POSTROOM_DATA_DIR": str(config.data_dir),
            "POSTROOM_SECRET_KEY": "test-secret",
        }
    )
    refused = runner.invoke(
        cli,
        [
            "users",
            "set-role",
            "--account",
            ann.account_number,
            "--email",
            "ann@example.com",
            "--role",
            "user",
        ],
    )
    assert refused.exit_code == 1
    assert "[last_owner]" in refused.output
    refused = runner.invoke(
        cli, ["users", "remove", "--account", ann.account_number, "--email", "ann@example.com"]
    )
    assert "[last_owner]" in refused.output


def test_the_worker_purges_people_unverified_after_30_days(
    postroom: Postroom, clock: FrozenClock
) -> None:
    assert "identity.purge-unverified" in postroom.jobs.registry.periodic
    postroom.identity.register(
        Registration(
            email="late@example.com",
            password="correct horse battery staple",
            security_question="Q?",
            security_answer="A",
            name="Late",
            company="Acme",
            phone="+1 202 555 0143",
        )
    )
    postroom.identity.request_reset("late@example.com")  # counted against mail floods
    with pytest.raises(Unauthenticated):
        postroom.identity.sign_in("late@example.com", "a wrong guess!", client="192.0.2.1")
    clock.advance(timedelta(days=30, seconds=1))
    assert postroom.jobs.run_now("identity.purge-unverified") == 1
    assert postroom.identity.forget_old_failures() == 0  # the job forgot them already
    assert postroom.jobs.run_now("identity.purge-unverified") == 0
    assert postroom.identity.resend_verification("late@example.com") is None  # gone
