"""knowledge: on SQLite, each indexed stem carries its language's mark

The FTS5 table is rewritten from ``knowledge_search`` (the folded text of every
published article) in the index's new format, so that a search of one language no
longer intersects with a ``language`` term matching half the base. PostgreSQL keeps
its tsvector: nothing changes there.

Revision ID: knowledge_0003
Revises: knowledge_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "knowledge_0003"
down_revision = "knowledge_0002"
branch_labels = None
depends_on = None

BATCH = 2000


def _rewrite(marked: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # The stems are the search module's own (Snowball, in Python): only it can write them.
    from postroom.core.knowledge import analysis
    from postroom.core.knowledge.model import Language
    from postroom.core.knowledge.search import fts5_text

    def text(value: str, language: str) -> str:
        if marked:
            return fts5_text(value, Language(language))
        return analysis.index_text(value, language)

    rows = bind.execute(
        sa.text("SELECT article_id, language, title, body FROM knowledge_search")
    ).all()
    bind.execute(sa.text("DELETE FROM knowledge_fts"))
    insert = sa.text(
        "INSERT INTO knowledge_fts (rowid, title, body, language) VALUES (:id, :title, :body, :l)"
    )
    for start in range(0, len(rows), BATCH):
        bind.execute(
            insert,
            [
                {
                    "id": row.article_id,
                    "title": text(row.title, row.language),
                    "body": text(row.body, row.language),
                    "l": row.language,
                }
                for row in rows[start : start + BATCH]
            ],
        )


def upgrade() -> None:
    _rewrite(marked=True)


def downgrade() -> None:
    _rewrite(marked=False)
