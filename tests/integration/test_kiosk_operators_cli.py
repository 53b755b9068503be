"""``postroom kiosk operators``: who may print on an account's kiosks, managed by an admin."""

from __future__ import annotations

import json

from click.testing import CliRunner

from postroom.core.accounts.model import pin_matches
from postroom.core.accounts.store import AccountStore
from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.frontends.cli import cli


def _account(runner: CliRunner) -> str:
    created = runner.invoke(
        cli,
        ["accounts", "create", "--name", "Acme", "--country", "US", "--currency", "USD", "--json"],
    )
    assert created.exit_code == 0, created.output
    return str(json.loads(created.output)["number"])


def test_operators_are_added_listed_given_a_new_pin_and_removed(
    runner: CliRunner, cli_env: dict[str, str]
) -> None:
    number = _account(runner)
    added = runner.invoke(
        cli,
        ["kiosk", "operators", "add", "--account", number, "--name", "Alice Martin"],
        input="482915\n482915\n",
    )
    assert added.exit_code == 0, added.output
    assert "added kiosk operator 1 (Alice Martin)" in added.output
    assert "482915" not in added.output  # the prompt does not echo the PIN
    scripted = runner.invoke(
        cli,
        ["kiosk", "operators", "add", "--account", number, "--name", "Bob", "--pin-stdin"],
        input="730264\n",
    )
    assert scripted.exit_code == 0, scripted.output
    listed = runner.invoke(cli, ["kiosk", "operators", "list", "--account", number, "--json"])
    assert [o["name"] for o in json.loads(listed.output)] == ["Alice Martin", "Bob"]
    assert "pin" not in listed.output.lower()

    new_pin = runner.invoke(
        cli,
        ["kiosk", "operators", "set-pin", "--account", number, "1", "--pin-stdin"],
        input="580327\n",
    )
    assert new_pin.exit_code == 0, new_pin.output
    config = Config.load(
        {}, data_dir=cli_env["POSTROOM_DATA_DIR"], database_url=cli_env["POSTROOM_DATABASE_URL"]
    )
    with Postroom.open(config=config) as postroom:
        with postroom.db.unit_of_work(readonly=True) as uow:
            account_id = AccountStore(uow.connection).get_by_number(number)
            assert account_id is not None
            found = AccountStore(uow.connection).operator_with_hash(account_id.id, 1)
        assert found is not None
        assert found[1].startswith("$argon2id$")
        assert pin_matches("580327", found[1])

    removed = runner.invoke(cli, ["kiosk", "operators", "remove", "--account", number, "2"])
    assert removed.exit_code == 0, removed.output
    again = runner.invoke(cli, ["kiosk", "operators", "remove", "--account", number, "2"])
    assert again.exit_code == 1
    assert "operator_not_found" in again.output


def test_a_pin_is_never_an_argument_and_a_weak_or_mistyped_one_is_refused(
    runner: CliRunner,
) -> None:
    number = _account(runner)
    base = ["kiosk", "operators", "add", "--account", number, "--name", "Alice"]
    on_the_line = runner.invoke(cli, [*base, "--pin", "482915"])
    assert on_the_line.exit_code == 2  # no such option: it would land in the shell history
    weak = runner.invoke(cli, [*base, "--pin-stdin"], input="111111\n")
    assert weak.exit_code == 1
    assert "weak_pin" in weak.output
    short = runner.invoke(cli, [*base, "--pin-stdin"], input="4829\n")
    assert "invalid_pin" in short.output
    mistyped = runner.invoke(cli, base, input="482915\n482916\n482915\n482915\n")
    assert mistyped.exit_code == 0  # asked again until both entries agree
    listed = runner.invoke(cli, ["kiosk", "operators", "list", "--account", number])
    assert listed.output.count("Alice") == 1


def test_an_operator_gets_a_badge_and_cost_centres_and_the_report_is_printed(
    runner: CliRunner, config: Config
) -> None:
    number = _account(runner)
    with Postroom.open(config=config) as postroom:
        serial = postroom.meters.virtual_meter(number).serial
        postroom.meters.set_cost_centers(serial, ["Legal", "Sales"])
    runner.invoke(
        cli,
        ["kiosk", "operators", "add", "--account", number, "--name", "Alice", "--pin-stdin"],
        input="482915\n",
    )
    operators = ["kiosk", "operators"]
    badge = runner.invoke(
        cli, [*operators, "set-badge", "--account", number, "1", "--badge-stdin"], input="04A1B2\n"
    )
    assert badge.exit_code == 0, badge.output
    assert "04A1B2" not in badge.output
    centers = runner.invoke(
        cli, [*operators, "set-cost-centers", "--account", number, "1", "Sales"]
    )
    assert "books to: Sales" in centers.output
    unknown = runner.invoke(cli, [*operators, "set-cost-centers", "--account", number, "1", "HR"])
    assert unknown.exit_code == 1
    listed = json.loads(
        runner.invoke(cli, [*operators, "list", "--account", number, "--json"]).output
    )
    assert (listed[0]["badge"], listed[0]["cost_centers"]) == (True, ["Sales"])
    report = runner.invoke(cli, ["kiosk", "report", "--account", number, "--csv"])
    assert report.exit_code == 0, report.output
    assert report.output.splitlines()[-1].startswith("total,all,,0,0.000,USD")
