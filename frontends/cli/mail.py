"""``postroom mail``: the email postroom kept in its data directory (no SMTP host set)."""

from __future__ import annotations

import json

import click

from postroom.core.mail import check_message
from postroom.core.outbox import MessageStatus
from postroom.frontends.cli.options import json_option, limit_option
from postroom.frontends.cli.state import EXIT_ERROR, CliState, pass_state


@click.group()
def mail() -> None:
    """Email: what the embedded default kept instead of sending, and a test email."""


@mail.command("outbox")
@click.option("--to", "to", default=None, help="Only the email to this address.")
@limit_option()
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
        for line in message.text.rstrip().splitlines():
            click.echo(f"    {line}".rstrip())
        click.echo()


@mail.command("test")
@click.option("--to", "to", required=True, help="The address to send the test email to.")
@json_option
@pass_state
def mail_test(state: CliState, to: str, as_json: bool) -> None:
    """Send a test email to --to at once through the mail settings (the SMTP server, or
    the maildir without one) and say whether it went. For the installation's admin.
    Exit code 1 when it did not go; the outbox retries it like any message."""
    sent = state.postroom().outbox.send_now(check_message(to))
    if as_json:
        click.echo(json.dumps(sent.to_json(), indent=2))
    elif sent.status is MessageStatus.DELIVERED:
        click.echo(f"sent {sent.id} to {to}")
    else:
        click.echo(f"not sent {sent.id} to {to}: {sent.last_error}", err=True)
    if sent.status is not MessageStatus.DELIVERED:
        raise SystemExit(EXIT_ERROR)
