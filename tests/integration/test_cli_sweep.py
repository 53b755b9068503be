"""Every command of ``postroom``, its arguments hostile: the answer is one error line or
the command's work, never a traceback. What an admin mistypes or pastes (markup, thousands
of digits, a negative number, digits that ``str.isdigit`` takes and ``int`` does not,
nothing) goes to every argument and option a command requires, and most of it to every
option it has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.frontends.cli import cli

#: (what is typed, whether every option gets it too, not only what a command requires)
HOSTILE = (
    ("", True),
    ("<script>alert(1)</script>", False),
    ("9" * 5000, True),
    ("-1", True),  # a negative limit or offset reaches PostgreSQL's LIMIT
    ("²" * 12, False),  # digits to str.isdigit, not to int()
)
#: what PostgreSQL answers differently from SQLite: text past a column's length (SQLite
#: keeps it), a negative LIMIT (SQLite takes it as none); the other values are refused
#: before any store, so the SQLite pass covers them
ON_POSTGRESQL = {"9" * 5000, "-1"}
#: commands that serve until stopped: they get their hostile values in their own tests
SERVING = {
    "serve",
    "worker",
    "kiosk serve",
    "mail serve",
    "meter simulate",
    "scale simulate",
}


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        elif " ".join((*path, name)) not in SERVING:
            yield " ".join((*path, name)), command


COMMANDS = list(_commands(cli))


def _arguments(command: click.Command, value: str, *, every: bool) -> list[str]:
    """The command's required parameters (``every``: and its optional options), each
    given ``value``; a choice gets its first choice, so the others are reached."""
    arguments: list[str] = []
    options: list[str] = []
    for parameter in command.params:
        if isinstance(parameter, click.Option) and (parameter.is_flag or parameter.count):
            continue
        if not (parameter.required or (every and isinstance(parameter, click.Option))):
            continue
        given = value
        if isinstance(parameter.type, click.Choice):
            given = str(parameter.type.choices[0])
        values = [given] * (2 if parameter.nargs == -1 else max(parameter.nargs, 1))
        if isinstance(parameter, click.Argument):
            arguments += values
        else:
            options += [parameter.opts[0], *values]
    return [*options, *arguments]


@pytest.mark.parametrize(("value", "with_options"), HOSTILE, ids=range(len(HOSTILE)))
def test_no_command_answers_hostile_arguments_with_a_traceback(
    runner: CliRunner,
    postroom: Postroom,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    with_options: bool,
) -> None:
    if postroom.db.dialect == "postgresql" and value not in ON_POSTGRESQL:
        pytest.skip("refused before any store: the SQLite pass covers it")
    postroom.accounts.create("Acme Mailroom", "US", "USD")  # something to be refused about
    monkeypatch.chdir(tmp_path)  # where a relative file name is written or read
    crashed: list[str] = []
    for every in (False, True) if with_options else (False,):
        for name, command in COMMANDS:
            argv = [*name.split(), *_arguments(command, value, every=every)]
            result = runner.invoke(cli, argv, catch_exceptions=True)
            failure = result.exception
            if failure is not None and not isinstance(failure, SystemExit):
                crashed.append(f"{' '.join(argv)[:200]}: {type(failure).__name__}: {failure}")
            elif "Traceback (most recent call last)" in result.output:
                crashed.append(f"{' '.join(argv)[:200]}: a traceback in the output")
    assert len(COMMANDS) > 100
    assert crashed == []
