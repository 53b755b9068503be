"""``postroom mail``: the email postroom kept in its data directory (no SMTP host set)."""

from __future__ import annotations

import json

import click

from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, pass_state


@click.group()
def mail() -> None:
    """Email kept by the embedded default instead of an SMTP server."""


@mail.command("outbox")
@click.option("--to", "to", default=None, help="Only the email to this address.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@pass_state
def mail_outbox(state: CliState, to: str | None, limit: int, as_json: bool) -> None:
    """The email written to the data directory's maildir, newest first (to, subject,
    date, text). For the installation's admin: whoever can read the data directory.
    With POSTROOM_SMTP_HOST set, email goes to that server and is not kept here."""
    pr = state.postroom()
    messages = pr.mailbox.messages(to=to, limit=limit)
    if as_json:
        click.echo(json.dumps([m.to_json() for m in messages], indent=2, ensure_ascii=False))
        return
    if pr.config.smtp_host:
        click.echo(f"(email is sent through {pr.config.smtp_host}; this is what was kept before)")
    if not messages:
        click.echo("no email kept")
        return
    for message in messages:
        date = message.date.isoformat() if message.date else "-"
        click.echo(f"{date}  to {message.to}  [{message.language}]  {message.subject}")
        click.echo("    " + message.text.rstrip().replace("\n", "\n    "))
        click.echo()
