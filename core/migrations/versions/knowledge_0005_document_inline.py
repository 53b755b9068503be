"""knowledge: on PostgreSQL, each article's tsvector stays in its row

A row of ``knowledge_search`` (title, folded body and their tsvector) is over the 2 kB
at which PostgreSQL moves values out of line, and a tsvector hardly compresses: with
the default storage the toaster put ``document`` itself in the TOAST table, so every
candidate a query checked or ranked fetched its vector there (an index probe and a
page each: most of a broad query's time, docs/performance.md). With ``MAIN`` the
vector stays in the row and the body, which compresses well, gives way first.

The existing rows take the new storage only when they are written again: the table is
rewritten here by changing a column's type to itself with an expression PostgreSQL
cannot see through, which copies the rows in their own order (the first matches a
query ranks are the first in that order: CLUSTER would reorder them, and VACUUM FULL
cannot run in the migration's transaction). SQLite has no such column.

Revision ID: knowledge_0005
Revises: knowledge_0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "knowledge_0005"
down_revision = "knowledge_0004"
branch_labels = None
depends_on = None


def _storage(document: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE knowledge_search ALTER COLUMN document SET STORAGE {document}")
    # from the first block: a synchronized scan would start where another one is
    op.execute("SET LOCAL synchronize_seqscans = off")
    op.execute("ALTER TABLE knowledge_search ALTER COLUMN topic TYPE varchar(80) USING topic || ''")


def upgrade() -> None:
    _storage("MAIN")


def downgrade() -> None:
    _storage("EXTENDED")
