"""The ``postroom`` command line: one Click group, one module per area."""

from __future__ import annotations

import sys

import click

from postroom.core import __version__
from postroom.core.config import Config
from postroom.core.errors import PostroomError
from postroom.core.plugins import make_plugin_manager
from postroom.frontends.cli import (
    accounts,
    billing,
    cases,
    chat,
    contracts,
    db,
    equipment,
    imb,
    kb,
    kiosk,
    mail,
    meter,
    notifications,
    payments,
    plugins,
    rates,
    scale,
    serve,
    shop,
    track,
    users,
    vault,
    worker,
)
from postroom.frontends.cli.state import CliState, PostroomGroup


@click.group(cls=PostroomGroup)
@click.version_option(__version__, prog_name="postroom")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="POSTROOM_CONFIG",
    help="TOML settings file.",
)
@click.option(
    "--database-url",
    envvar="POSTROOM_DATABASE_URL",
    help="SQLAlchemy URL of the store (default: SQLite in the data directory).",
)
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, database_url: str | None) -> None:
    """postroom: postage meters, funds, rates and mailroom tools."""
    state = CliState(config_file=config_file, database_url=database_url)
    ctx.obj = state
    ctx.call_on_close(state.close)


for command in (
    accounts.accounts,
    cases.cases,
    chat.chat,
    billing.billing,
    contracts.contracts,
    db.db,
    equipment.equipment,
    imb.imb,
    kb.kb,
    kiosk.kiosk,
    mail.mail,
    meter.meter,
    notifications.notifications,
    plugins.plugins,
    rates.rates,
    scale.scale,
    serve.serve,
    track.track,
    shop.shop,
    users.users,
    vault.vault,
    worker.worker,
):
    cli.add_command(command)
payments.attach(vault.vault)


def main() -> None:
    """Console-script entry: add plugins' commands, then run the group."""
    try:
        manager = make_plugin_manager(Config.load().plugins)
        manager.hook.register_commands(cli=cli)
    except PostroomError as error:
        click.echo(f"Error: {error.message} [{error.code}]", err=True)
        sys.exit(1)
    cli(prog_name="postroom")
