"""``postroom kiosk keys``: an admin issues, lists and revokes the keys of an account's
terminals; the token is shown once, and only a hash of it is stored."""

from __future__ import annotations

import json

from click.testing import CliRunner

from postroom.frontends.cli import cli


def _account(runner: CliRunner, country: str = "US", currency: str = "USD") -> str:
    created = runner.invoke(
        cli,
        [
            *("accounts", "create", "--name", "Acme"),
            *("--country", country, "--currency", currency, "--json"),
        ],
    )
    assert created.exit_code == 0, created.output
    return str(json.loads(created.output)["number"])


def test_keys_are_issued_listed_and_revoked(runner: CliRunner, cli_env: dict[str, str]) -> None:
    number = _account(runner)
    added = runner.invoke(
        cli, ["kiosk", "keys", "add", "--account", number, "--label", "Mailroom", "--json"]
    )
    assert added.exit_code == 0, added.output
    issued = json.loads(added.output)
    assert issued["token"].startswith(f"prt_{issued['prefix']}_")
    assert issued["last_contact_at"] is None

    listed = runner.invoke(cli, ["kiosk", "keys", "list", "--account", number])
    assert listed.exit_code == 0, listed.output
    assert f"{issued['prefix']}  active" in listed.output
    assert "last contact never" in listed.output
    assert issued["token"] not in listed.output

    revoked = runner.invoke(cli, ["kiosk", "keys", "revoke", "--account", number, issued["prefix"]])
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked kiosk key {issued['prefix']} (Mailroom)" in revoked.output
    again = runner.invoke(cli, ["kiosk", "keys", "list", "--account", number, "--json"])
    [row] = json.loads(again.output)
    assert row["revoked_at"] is not None
    assert "token" not in row


def test_another_accounts_key_cannot_be_revoked(runner: CliRunner, cli_env: dict[str, str]) -> None:
    mine, theirs = _account(runner), _account(runner, "FR", "EUR")
    added = runner.invoke(
        cli, ["kiosk", "keys", "add", "--account", theirs, "--label", "Paris", "--json"]
    )
    prefix = json.loads(added.output)["prefix"]
    refused = runner.invoke(cli, ["kiosk", "keys", "revoke", "--account", mine, prefix])
    assert refused.exit_code == 1
    assert "kiosk_key_not_found" in refused.output
    listed = runner.invoke(cli, ["kiosk", "keys", "list", "--account", theirs, "--json"])
    assert json.loads(listed.output)[0]["revoked_at"] is None


def test_bad_input_is_a_clear_error(runner: CliRunner, cli_env: dict[str, str]) -> None:
    number = _account(runner)
    no_label = runner.invoke(cli, ["kiosk", "keys", "add", "--account", number, "--label", " "])
    assert no_label.exit_code == 1
    assert "invalid_label" in no_label.output
    bad_prefix = runner.invoke(cli, ["kiosk", "keys", "revoke", "--account", number, "nope"])
    assert bad_prefix.exit_code == 1
    assert "invalid_kiosk_key_prefix" in bad_prefix.output
    assert "Traceback" not in no_label.output + bad_prefix.output
    listed = runner.invoke(cli, ["kiosk", "keys", "list", "--account", number, "--json"])
    assert json.loads(listed.output) == []


def test_serve_refuses_to_start_without_what_it_needs(
    runner: CliRunner, cli_env: dict[str, str]
) -> None:
    no_key = runner.invoke(cli, ["kiosk", "serve", "--server", "https://dc.example"])
    assert no_key.exit_code == 2
    assert "--server needs this terminal's --key" in no_key.output
    no_account = runner.invoke(cli, ["kiosk", "serve", "--origin-zip", "10001"])
    assert no_account.exit_code == 1
    assert "kiosk_account_required" in no_account.output
    bad_key = runner.invoke(
        cli, ["kiosk", "serve", "--key", "prt_0123456789ab_nope", "--origin-zip", "10001"]
    )
    assert bad_key.exit_code == 1
    assert "invalid_kiosk_key" in bad_key.output
    bad_url = runner.invoke(
        cli, ["kiosk", "serve", "--server", "ftp://dc.example", "--key", "prt_0123456789ab_x"]
    )
    assert bad_url.exit_code == 1
    assert "invalid_server_url" in bad_url.output
