"""``postroom kb``: the knowledge base's articles, written as Markdown files with front
matter in a repository and imported here.

Staff only: the CLI has no login of its own, its trust is access to the installation's
settings and database (docs/security.md). Readers use /help and /api/v1/articles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from postroom.core.errors import ValidationError
from postroom.core.knowledge import markdown_files
from postroom.core.knowledge.model import Language, Product, Status
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise import knowledge as serialise

#: who the imported articles name as their author unless told
DEFAULT_AUTHOR = "knowledge base import"


@click.group()
def kb() -> None:
    """Knowledge-base articles: list, show, import, export, publish (staff)."""


@kb.command("list")
@click.option("--language", type=click.Choice([x.value for x in Language]), default=None)
@click.option("--product", type=click.Choice([x.value for x in Product]), default=None)
@click.option("--topic", default=None, help="Only this topic.")
@click.option(
    "--status",
    type=click.Choice([*(x.value for x in Status), "all"]),
    default="all",
    show_default=True,
)
@json_option
@pass_state
def list_(
    state: CliState,
    language: str | None,
    product: str | None,
    topic: str | None,
    status: str,
    as_json: bool,
) -> None:
    """List articles by product, topic and title."""
    found = state.postroom().knowledge.list(
        language=language,
        product=product,
        topic=topic,
        status=None if status == "all" else status,
    )
    emit([serialise.article_summary(a) for a in found], as_json, _table)


@kb.command()
@click.argument("slug")
@json_option
@pass_state
def show(state: CliState, slug: str, as_json: bool) -> None:
    """Show one article (any status) with its Markdown body."""
    knowledge = state.postroom().knowledge
    found = knowledge.get(slug, staff=True)
    data = serialise.article(
        found, translations=knowledge.translations(found), related=knowledge.related(found)
    )
    emit(data, as_json, _detail)


@kb.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--author", default=DEFAULT_AUTHOR, show_default=True, help="Who wrote them.")
@json_option
@pass_state
def import_(state: CliState, paths: tuple[Path, ...], author: str, as_json: bool) -> None:
    """Create or update articles from Markdown files (or folders of them), each with
    its front matter; the status in the file is applied. Every file is read and checked
    before the first is written: one that does not parse stops the import, and the
    articles go in together (one that is refused leaves none written)."""
    files = sorted({f for p in paths for f in ([p] if p.is_file() else p.rglob("*.md"))}, key=str)
    parsed = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValidationError(
                f"{path}: cannot read it ({error})", code="unreadable_file"
            ) from error
        parsed.append((path, *markdown_files.parse(text, str(path))))
    imported = state.postroom().knowledge.import_articles(
        [(draft, status) for _, draft, status in parsed], author
    )
    rows = [
        {"file": str(path), "slug": article.slug, "outcome": outcome}
        for (path, _, _), (article, outcome) in zip(parsed, imported, strict=True)
    ]
    emit(rows, as_json, _imported)


@kb.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--status",
    type=click.Choice([*(x.value for x in Status), "all"]),
    default="all",
    show_default=True,
)
@json_option
@pass_state
def export(state: CliState, folder: Path, status: str, as_json: bool) -> None:
    """Write every article as FOLDER/<language>/<slug>.md, ready to import again."""
    found = state.postroom().knowledge.list(status=None if status == "all" else status)
    written = []
    for article in found:
        target = folder / markdown_files.file_name(article)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(markdown_files.write(article), encoding="utf-8")
        written.append({"file": str(target), "slug": article.slug})
    emit(written, as_json, lambda rows: f"exported {len(rows)} articles to {folder}")


@kb.command()
@click.argument("slugs", nargs=-1, required=True)
@click.option("--archive", is_flag=True, help="Archive them instead.")
@json_option
@pass_state
def publish(state: CliState, slugs: tuple[str, ...], archive: bool, as_json: bool) -> None:
    """Publish articles (or archive them with --archive)."""
    knowledge = state.postroom().knowledge
    done = [
        serialise.article_summary(knowledge.archive(s) if archive else knowledge.publish(s))
        for s in slugs
    ]
    emit(done, as_json, lambda rows: "\n".join(f"{r['slug']}: {r['status']}" for r in rows))


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no articles"
    return "\n".join(
        f"{r['language']}  {r['status']:<9}  {r['product']:<8}  {r['topic']:<12}  "
        f"{r['slug']:<36}  {r['title']}"
        for r in rows
    )


def _detail(d: dict[str, Any]) -> str:
    lines = [
        f"{d['title']}",
        f"{d['slug']} ({d['language']}), {d['status']}, version {d['version']}, "
        f"{d['product']} / {d['topic']}, by {d['author']}",
    ]
    if d["translations"]:
        lines.append(
            "translations: " + ", ".join(f"{t['language']} {t['slug']}" for t in d["translations"])
        )
    if d["related"]:
        lines.append("related: " + ", ".join(r["slug"] for r in d["related"]))
    return "\n".join([*lines, "", d["body"]])


def _imported(rows: list[dict[str, Any]]) -> str:
    counts = {
        o: sum(1 for r in rows if r["outcome"] == o) for o in ("created", "updated", "unchanged")
    }
    return (
        f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"
    )
