"""knowledge: articles, versions, the search index (FTS5 or tsvector), votes, searches
and deflection

Revision ID: knowledge_0001
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "knowledge_0001"
down_revision = "0001"
branch_labels = ("knowledge",)
depends_on = None


def _article(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["article_id"],
        ["knowledge_articles.id"],
        name=f"fk_{table}_article_id_knowledge_articles",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("family", sa.String(80), nullable=False),
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("product", sa.String(20), nullable=False),
        sa.Column("topic", sa.String(80), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("related", sa.String(900), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("published_at", moment, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_articles"),
        sa.UniqueConstraint("slug", name="uq_knowledge_articles_slug"),
        sa.UniqueConstraint("family", "language", name="uq_knowledge_articles_family_language"),
    )
    op.create_index(
        "ix_knowledge_articles_browse",
        "knowledge_articles",
        ["language", "status", "product", "topic"],
    )
    op.create_table(
        "knowledge_versions",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.PrimaryKeyConstraint("article_id", "version", name="pk_knowledge_versions"),
        _article("knowledge_versions"),
    )
    op.create_table(
        "knowledge_search",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("product", sa.String(20), nullable=False),
        sa.Column("topic", sa.String(80), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("article_id", name="pk_knowledge_search"),
        _article("knowledge_search"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # The folded text under the language's configuration: the title ranks above
        # the body. A CASE of constant configurations keeps the expression immutable.
        op.execute(
            "ALTER TABLE knowledge_search ADD COLUMN document tsvector GENERATED ALWAYS AS ("
            " CASE language WHEN 'fr' THEN"
            "  setweight(to_tsvector('french'::regconfig, title), 'A')"
            "  || setweight(to_tsvector('french'::regconfig, body), 'B')"
            " ELSE"
            "  setweight(to_tsvector('english'::regconfig, title), 'A')"
            "  || setweight(to_tsvector('english'::regconfig, body), 'B')"
            " END) STORED"
        )
        op.execute("CREATE INDEX ix_knowledge_search_document ON knowledge_search USING GIN (document)")
    else:
        op.execute(
            # the language is a column of its own, so that a search of one language
            # filters inside the index rather than by a join
            "CREATE VIRTUAL TABLE knowledge_fts USING fts5("
            "title, body, language, tokenize = 'unicode61 remove_diacritics 2')"
        )
    op.create_table(
        "knowledge_terms",
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("term", sa.String(60), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("language", "term", name="pk_knowledge_terms"),
    )
    op.create_index("ix_knowledge_terms_length", "knowledge_terms", ["language", "length"])
    op.create_table(
        "knowledge_votes",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("voter", sa.String(64), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.PrimaryKeyConstraint("article_id", "voter", name="pk_knowledge_votes"),
        _article("knowledge_votes"),
    )
    op.create_table(
        "knowledge_searches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("query", sa.String(500), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_searches"),
    )
    op.create_index(
        "ix_knowledge_searches_missed", "knowledge_searches", ["hits", "language", "query"]
    )
    op.create_table(
        "knowledge_deflection_reads",
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("read_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("token", "article_id", name="pk_knowledge_deflection_reads"),
        _article("knowledge_deflection_reads"),
    )
    op.create_table(
        "knowledge_deflection_cases",
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("case_reference", sa.String(40), nullable=False),
        sa.Column("opened_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_knowledge_deflection_cases"),
    )


def downgrade() -> None:
    op.drop_table("knowledge_deflection_cases")
    op.drop_table("knowledge_deflection_reads")
    op.drop_index("ix_knowledge_searches_missed", table_name="knowledge_searches")
    op.drop_table("knowledge_searches")
    op.drop_table("knowledge_votes")
    op.drop_index("ix_knowledge_terms_length", table_name="knowledge_terms")
    op.drop_table("knowledge_terms")
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE knowledge_fts")
    op.drop_table("knowledge_search")
    op.drop_table("knowledge_versions")
    op.drop_index("ix_knowledge_articles_browse", table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
