"""knowledge: each article keeps its plain text, rendered from Markdown when written

A search reads the ten articles it found with their plain text in the ranked query's
own round trip, and makes their snippets from it: rendering the Markdown of every hit
was most of a search's cost (docs/performance.md). Existing articles are rendered
once here.

Revision ID: knowledge_0004
Revises: knowledge_0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "knowledge_0004"
down_revision = "knowledge_0003"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("knowledge_articles") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=False, server_default=""))
    # The plain text is the model's own rendering: only it can write it.
    from postroom.core.knowledge.model import plain_text

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, body FROM knowledge_articles ORDER BY id")).all()
    update = sa.text("UPDATE knowledge_articles SET text = :text WHERE id = :id")
    for start in range(0, len(rows), BATCH):
        bind.execute(
            update,
            [{"id": row.id, "text": plain_text(row.body)} for row in rows[start : start + BATCH]],
        )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_articles") as batch:
        batch.drop_column("text")
