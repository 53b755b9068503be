"""``postroom notifications``: the outbox of messages to customers and the data center."""

from __future__ import annotations

import json
from typing import Any

import click

from postroom.core.outbox import MessageStatus, OutboxMessage
from postroom.frontends.cli.options import json_option, limit_option
from postroom.frontends.cli.state import CliState, pass_state
from postroom.frontends.serialise.notifications import message_json


def message_line(data: dict[str, Any]) -> str:
    line = (
        f"{data['id']}  {data['status']}  {data['kind']} to {data['recipient']}"
        f"  ({data['attempts']} failed attempt(s))"
    )
    if data["next_attempt_at"]:
        line += f"  next {data['next_attempt_at']}"
    if data["last_error"]:
        line += f"  last error: {data['last_error']}"
    return line


def _show(messages: list[OutboxMessage], as_json: bool) -> None:
    rows = [message_json(m) for m in messages]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(message_line(row))
    if not rows:
        click.echo("none")


@click.group()
def notifications() -> None:
    """Messages to customers and the data center: delivered, retried or failed."""


@notifications.command("list")
@click.option("--failed", is_flag=True, help="Only the messages that ran out of attempts.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in MessageStatus]),
    default=None,
    help="Only messages in this state.",
)
@click.option("--recipient", default=None, help='e.g. "customer:1000000001".')
@limit_option()
@json_option
@pass_state
def notifications_list(
    state: CliState,
    failed: bool,
    status: str | None,
    recipient: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest messages first."""
    if failed and status not in (None, MessageStatus.FAILED.value):
        raise click.UsageError("--failed and --status name different states")
    chosen = MessageStatus.FAILED.value if failed else status
    _show(
        state.postroom().outbox.messages(status=chosen, recipient=recipient, limit=limit),
        as_json,
    )


@notifications.command("retry")
@click.argument("message_id")
@json_option
@pass_state
def notifications_retry(state: CliState, message_id: str, as_json: bool) -> None:
    """Send a failed message again (its attempts start over)."""
    _show([state.postroom().outbox.retry(message_id)], as_json)


@notifications.command("deliver")
@pass_state
def notifications_deliver(state: CliState) -> None:
    """Run the delivery job once: every pending message whose time has come."""
    delivered = state.postroom().outbox.deliver_due()
    counts = state.postroom().outbox.counts()
    click.echo(f"delivered {delivered}; pending {counts['pending']}, failed {counts['failed']}")
