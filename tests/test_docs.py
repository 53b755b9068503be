"""The documentation keeps up with the code."""

import re
from pathlib import Path

import click

from postroom.core import hookspecs
from postroom.core.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def _hook_names() -> list[str]:
    marker = f"{hookspecs.PROJECT}_spec"
    return [name for name, value in vars(hookspecs).items() if hasattr(value, marker)]


def test_there_are_hooks():
    assert "register_payment_sources" in _hook_names()


def test_every_hook_is_documented_in_docs_plugins_md():
    text = (ROOT / "docs" / "plugins.md").read_text("utf-8")
    missing = [name for name in _hook_names() if f"`{name}(" not in text]
    assert missing == [], f"hooks missing from docs/plugins.md: {missing}"


def test_every_hook_has_a_docstring():
    assert all(getattr(hookspecs, name).__doc__ for name in _hook_names())


def test_every_setting_is_documented_in_the_readme():
    text = (ROOT / "README.md").read_text("utf-8")
    missing = [variable for variable, _ in SETTINGS.values() if f"`{variable}`" not in text]
    assert missing == [], f"settings missing from README.md: {missing}"


def test_every_command_group_is_in_the_readme_command_list():
    from postroom.frontends.cli import cli

    text = (ROOT / "README.md").read_text("utf-8")
    block = text[text.index("## Command line") : text.index("## Configuration")]
    missing = [name for name in cli.commands if f"postroom {name}" not in block]
    assert missing == [], f"command groups missing from README.md: {missing}"


def _readme_command_lines() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    block = text[text.index("## Command line") : text.index("## Configuration")]
    code = block.split("```")[1]
    lines = [line for line in code.splitlines() if line.startswith("postroom")]
    return [line.split(" #")[0].strip() for line in lines]


def _names(word: str, group: click.Group) -> list[str] | None:
    """The subcommand names ``word`` lists (``list|show``), or None when it lists none."""
    names = word.strip("[]()").split("|")
    if all(name in group.commands for name in names):
        return names
    return None


def _check_readme_line(line: str) -> list[str]:
    """What in one README command line does not match the command line interface."""
    from postroom.frontends.cli import cli

    problems: list[str] = []
    segments: list[str] = []
    for segment in re.split(r"\s\|\s", line.removeprefix("postroom").strip()):
        if segments and segment.startswith(("-", "(", "[")):
            segments[-1] += f" {segment}"  # an alternative of options, not of commands
        else:
            segments.append(segment)
    group: click.Group = cli
    chain: list[click.Command] = [cli]
    reached: list[click.Command] = []
    for index, segment in enumerate(segments):
        words = segment.split()
        mine: list[click.Command] = []
        while words:
            names = _names(words[0], group)
            if names is None:
                break
            words.pop(0)
            found = [group.commands[name] for name in names]
            if len(found) == 1 and isinstance(found[0], click.Group) and index == 0:
                group = found[0]
                chain.append(group)
                continue
            mine = found
            break
        if index > 0 and not mine:
            problems.append(f"{segment!r}: no such command in `{group.name}`")
            continue
        if not mine and words and re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", words[0]):
            problems.append(f"{segment!r}: no command {words[0]!r} in `{group.name}`")
        reached += mine
        if len(mine) == 1 and not isinstance(mine[0], click.Group):
            problems += _check_positionals(mine[0], words, segment)
    commands = [*chain, *reached] if reached else chain
    known = {
        option
        for command in commands
        for param in command.params
        for option in [*param.opts, *param.secondary_opts]
    }
    for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", line):
        if option not in known:
            problems.append(f"{option} is an option of none of {[c.name for c in commands]}")
    return problems


def _check_positionals(command: click.Command, words: list[str], segment: str) -> list[str]:
    options = {opt: param for param in command.params for opt in param.opts}
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    positionals, at = [], 0
    while at < len(words):
        word = words[at].strip("[]()")
        at += 1
        if word.startswith("--"):
            param = options.get(word.split("|")[-1])  # --pty|--tcp PORT: PORT is --tcp's
            at += 1 if param is not None and not getattr(param, "is_flag", False) else 0
        elif word not in ("...", "|") and not word.startswith("-"):
            positionals.append(word)
    if any(argument.nargs == -1 for argument in arguments):
        return []
    if len(positionals) > len(arguments):
        return [f"{segment!r}: {command.name} takes {len(arguments)} argument(s): {positionals}"]
    return []


def test_every_readme_command_line_matches_the_command_line_interface():
    lines = _readme_command_lines()
    assert len(lines) > 15
    problems = {line: found for line in lines if (found := _check_readme_line(line))}
    assert problems == {}
