"""The command line through Click's runner, on a real database."""

import json
import socket

from postroom.core import __version__
from postroom.frontends.cli import cli


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_db_upgrade_then_current_reports_up_to_date(runner):
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "is at revision" in upgraded.output
    current = runner.invoke(cli, ["db", "current", "--json"])
    assert current.exit_code == 0
    assert json.loads(current.output)["up_to_date"] is True


def test_plugins_json_lists_the_built_in_plugins(runner):
    result = runner.invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.output)}
    assert plugins["log_notifier"]["hooks"] == ["register_notifiers"]
    assert plugins["log_notifier"]["version"] == __version__


def test_the_plugin_allowlist_applies_to_the_listing(runner):
    result = runner.invoke(cli, ["plugins", "--json"], env={"POSTROOM_PLUGINS": "nothing"})
    assert json.loads(result.output) == []


def test_a_malformed_database_url_is_one_line_and_exit_1(runner):
    result = runner.invoke(cli, ["--database-url", "mysql://x@y/z", "db", "upgrade"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: unsupported database 'mysql': use sqlite:///PATH or postgresql://... "
        "[configuration_error]"
    ]


def test_an_unreachable_postgresql_is_one_line_and_exit_1(runner):
    url = "postgresql://postgres@127.0.0.1:1/postroom"
    result = runner.invoke(cli, ["--database-url", url, "db", "upgrade"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: database postgresql+psycopg://postgres@127.0.0.1:1/postroom")
    assert line.endswith("[storage_unavailable]")


def test_a_bad_setting_in_the_environment_is_one_line_and_exit_1(runner):
    result = runner.invoke(cli, ["plugins"], env={"POSTROOM_ENV": "staging"})
    assert result.exit_code == 1
    assert "[configuration_error]" in result.output
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(runner):
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2
    assert runner.invoke(cli, ["serve", "--port", "0"]).exit_code == 2


def test_serve_on_a_port_in_use_is_one_line_and_exit_1(runner):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    expected = f"Error: port {port} on 127.0.0.1 is already in use [port_in_use]"
    assert result.output.strip() == expected


def test_worker_lists_its_periodic_jobs(runner):
    result = runner.invoke(cli, ["worker", "--list"])
    assert result.exit_code == 0
    assert "worker.heartbeat" in result.output
