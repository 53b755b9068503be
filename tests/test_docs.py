"""The documentation keeps up with the code."""

from pathlib import Path

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
