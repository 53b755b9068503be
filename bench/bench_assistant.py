"""The virtual assistant: answers per second on the shipped articles, and the share of
the 200 labelled questions (tests/data/assistant_questions.tsv) routed to the right
intent or article, in one run.

Run: python bench/bench_assistant.py [--rounds 3] [--database-url postgresql://...]

Each round asks all 200 questions (100 English, 100 French) through
``pr.assistant.answer`` without a customer: intent matching, the knowledge search and
the re-ranking of its first hits. A PostgreSQL URL must name a migrated database of its
own (the articles are loaded into it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.knowledge.assistant import routes

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "data" / "assistant_questions.tsv"


def labelled() -> list[tuple[str, str, str]]:
    rows = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            language, expected, question = line.split("\t")
            rows.append((language, expected, question))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rows = labelled()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'assistant.db'}"
        config = Config.load({}, data_dir=Path(folder), database_url=url, secret_key="bench")
        with Postroom.open(config=config, migrate_schema=True) as pr:
            pr.knowledge.load_shipped_articles()
            right = sum(1 for lang, want, q in rows if want in routes(pr.assistant.answer(q, lang)))
            by_language = {
                lang: sum(
                    1
                    for la, want, q in rows
                    if la == lang and want in routes(pr.assistant.answer(q, la))
                )
                for lang in ("en", "fr")
            }
            times = []
            for _ in range(args.rounds):
                for language, _, question in rows:
                    start = time.perf_counter()
                    pr.assistant.answer(question, language)
                    times.append(time.perf_counter() - start)
            times.sort()
            print(f"{pr.db.dialect}: {len(rows)} labelled questions, {args.rounds} rounds")
            print(
                f"  routed right: {right}/{len(rows)} ({right / len(rows):.1%}); "
                f"English {by_language['en']}/100, French {by_language['fr']}/100"
            )
            print(
                f"  {len(times) / sum(times):.0f} answers/s; p50 "
                f"{statistics.median(times) * 1000:.2f} ms, p99 "
                f"{times[int(len(times) * 0.99)] * 1000:.2f} ms"
            )


if __name__ == "__main__":
    main()
