"""``postroom chat``: the live chat's queue, for support staff on the server.

Staff only: the CLI has no login of its own, its trust is access to the installation's
settings and database (docs/security.md). Agents take chats in /console/chats.
"""

from __future__ import annotations

from typing import Any

import click

from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state


@click.group()
def chat() -> None:
    """Live chats waiting for an agent (staff)."""


@chat.command()
@click.option("--department", default=None, help="Only this department's queue.")
@json_option
@pass_state
def queue(state: CliState, department: str | None, as_json: bool) -> None:
    """The chats waiting for an agent, longest first, with their wait."""
    entries = state.postroom().chat.queue(department)
    rows = [
        {
            "id": e.conversation.id,
            "department": e.conversation.department,
            "position": e.position,
            "customer_number": e.conversation.customer_number,
            "customer_name": e.conversation.customer_name,
            "language": e.conversation.language.value,
            "waited_seconds": int(e.waited.total_seconds()),
        }
        for e in entries
    ]
    emit(rows, as_json, _table)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "nobody is waiting"
    return "\n".join(
        f"{r['department']:<10} #{r['position']:<3} chat {r['id']:<6} "
        f"{r['customer_number']}  {r['customer_name']} ({r['language']}), "
        f"waiting {r['waited_seconds'] // 60} min"
        for r in rows
    )
