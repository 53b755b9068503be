"""Schema migrations (Alembic), run on postroom's own engine.

Each area keeps its revisions on its own branch (``branch_labels``) rooted at the
foundation revision, so areas grow independently; ``upgrade`` goes to all heads.
"""

from __future__ import annotations

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


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(_alembic_config()).get_heads())


def current_revisions(db: Database) -> set[str]:
    with db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_current(db: Database) -> bool:
    return current_revisions(db) == head_revisions()


def upgrade(db: Database, target: str = "heads") -> None:
    """Bring the schema to ``target`` in one transaction (safe to run concurrently)."""
    config = _alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)
