"""``postroom plugins``: what is loaded, with versions and hooks."""

from __future__ import annotations

from typing import Any

import click

from postroom.core.funding.service import sandbox_source_codes
from postroom.core.plugins import make_plugin_manager
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state


@click.command()
@click.option(
    "--all", "everything", is_flag=True, help="Also list postroom's own hook implementations."
)
@json_option
@pass_state
def plugins(state: CliState, everything: bool, as_json: bool) -> None:
    """List installed plugins with their version and hooks; failed ones show their error."""
    config = state.config()
    manager = make_plugin_manager(config.plugins)
    infos = [info.to_dict() for info in manager.plugin_infos(builtin=everything)]
    emit(infos, as_json, _table)
    sandboxes = sandbox_source_codes(manager)
    if config.production and config.allow_sandbox_payments and sandboxes:
        # On stderr, so that --json stays parseable and the warning is still seen.
        click.echo(
            "WARNING: POSTROOM_ALLOW_SANDBOX_PAYMENTS is set in production: sandbox "
            f"payment source(s) {', '.join(sandboxes)} approve payments without moving "
            "real money",
            err=True,
        )


def _table(infos: list[dict[str, Any]]) -> str:
    if not infos:
        return "no plugins installed"
    lines = []
    for info in infos:
        version = info["version"] or "-"
        if "error" in info:
            lines.append(f"{info['name']} {version}  FAILED: {info['error']}")
        else:
            lines.append(f"{info['name']} {version}  hooks: {', '.join(info['hooks'])}")
    return "\n".join(lines)
