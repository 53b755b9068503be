"""Alembic environment: runs on the connection postroom hands over (see core/migrate.py)."""

from alembic import context

from postroom.core import schema

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - postroom always passes its own connection
    raise RuntimeError("run migrations through `postroom db upgrade`")

context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
