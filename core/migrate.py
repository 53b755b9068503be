"""Schema migrations (Alembic), run on postroom's own engine.

Each area keeps its revisions on its own branch (``branch_labels``) rooted at the
foundation revision, so areas grow independently; ``upgrade`` goes to all heads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from postroom.core.db import Database

SCRIPT_LOCATION = "postroom.core:migrations"


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """The revisions shipped with this code, read once a process: reading them imports
    every revision file, a third of a second that a process opening the store again and
    again (a test suite, a command run per job) would pay each time."""
    return ScriptDirectory.from_config(_alembic_config())


def head_revisions() -> set[str]:
    return set(_scripts().get_heads())


def current_revisions(db: Database) -> set[str]:
    with db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def applied_revisions(db: Database) -> set[str]:
    """Every revision the database has: its version rows and all they stand on.

    Alembic records only the tips; a revision that another one ``depends_on`` (the vault
    on accounts) is applied but not recorded, so the tips alone can differ from the heads.
    """
    script = _scripts()
    seen: set[str] = set()
    todo = list(current_revisions(db))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        revision = script.get_revision(name)
        if revision is not None:
            todo.extend(revision._all_down_revisions)
    return seen


def is_current(db: Database) -> bool:
    return head_revisions() <= applied_revisions(db)


#: Seals the ledger's rows written before the chain was keyed: ``ChainKey.seal``.
SealLedger = Callable[[int, str], str]


def upgrade(db: Database, target: str = "heads", *, seal_ledger: SealLedger | None = None) -> None:
    """Bring the schema to ``target`` in one transaction (safe to run concurrently).

    ``seal_ledger`` (the ledger key's seal) lets migration ``vault_0009_seal`` seal the
    rows written before the chain was keyed; without it they stay unsealed until
    ``postroom vault seal``."""
    if target == "heads" and is_current(db):
        return  # nothing to run: skip Alembic's own reading of every revision
    config = _alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["seal_ledger"] = seal_ledger
        command.upgrade(config, target)
