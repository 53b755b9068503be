"""``postroom db``: schema migrations."""

from __future__ import annotations

import click
from sqlalchemy.exc import DBAPIError

from postroom.core import migrate
from postroom.core.db import Database
from postroom.core.ledger.model import ChainKey
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state


@click.group()
def db() -> None:
    """Database schema."""


def _database(state: CliState) -> Database:
    return Database(state.config().resolved_database_url)


@db.command()
@pass_state
def upgrade(state: CliState) -> None:
    """Create or migrate the schema to the newest revision."""
    config = state.config()
    if config.database_url is None:
        config.ensure_data_dir()
    # The ledger key seals the rows written before the chain was keyed (vault_0009_seal).
    ledger_key = ChainKey.from_text(config.resolved_ledger_key())
    database = _database(state)
    try:
        migrate.upgrade(database, seal_ledger=ledger_key.seal)
        revisions = sorted(migrate.current_revisions(database))
    except DBAPIError as error:
        raise database.unavailable(error) from error
    finally:
        database.dispose()
    click.echo(f"{database.display_url} is at revision {', '.join(revisions)}")


@db.command()
@json_option
@pass_state
def current(state: CliState, as_json: bool) -> None:
    """Show the schema revision and whether it is up to date."""
    database = _database(state)
    try:
        revisions = sorted(migrate.current_revisions(database))
        # not `revisions == heads`: a revision another one depends_on is applied but
        # not recorded as a tip (see migrate.applied_revisions)
        up_to_date = migrate.is_current(database)
    except DBAPIError as error:
        raise database.unavailable(error) from error
    finally:
        database.dispose()
    heads = sorted(migrate.head_revisions())
    data = {"current": revisions, "heads": heads, "up_to_date": up_to_date}
    emit(
        data,
        as_json,
        lambda d: (
            f"current: {', '.join(d['current']) or '(empty)'}; "
            f"{'up to date' if d['up_to_date'] else 'run `postroom db upgrade`'}"
        ),
    )
