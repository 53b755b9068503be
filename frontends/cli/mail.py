"""``postroom mail``: the email postroom kept in its data directory (no SMTP host set),
and support's inbound email: ``mail serve`` (an SMTP server), ``mail import`` (a file,
a maildir or standard input) and ``mail inbound`` (what was kept, for staff)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from postroom.core.cases.inbound import CaseMail
from postroom.core.errors import PostroomError
from postroom.core.mail import check_message
from postroom.core.outbox import MessageStatus
from postroom.frontends import smtp
from postroom.frontends.cli.options import json_option, limit_option
from postroom.frontends.cli.state import EXIT_ERROR, CliState, pass_state
from postroom.frontends.delivery import delivery_process
from postroom.frontends.serialise.case_mail import kept_json, received_json
from postroom.frontends.serialise.notifications import mailed_json, message_json


@click.group()
def mail() -> None:
    """Email: what the embedded default kept instead of sending, a test email, and
    support's inbound email (serve, import, inbound)."""


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
        click.echo(json.dumps([mailed_json(m) for m in messages], indent=2, ensure_ascii=False))
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
        click.echo(json.dumps(message_json(sent), indent=2))
    elif sent.status is MessageStatus.DELIVERED:
        click.echo(f"sent {sent.id} to {to}")
    else:
        click.echo(f"not sent {sent.id} to {to}: {sent.last_error}", err=True)
    if sent.status is not MessageStatus.DELIVERED:
        raise SystemExit(EXIT_ERROR)


@mail.command("serve")
@click.option("--host", default=smtp.DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=smtp.DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: a free one, printed).",
)
@pass_state
def mail_serve(state: CliState, host: str, port: int) -> None:
    """Run the inbound SMTP server of support's email channel until stopped: each
    message opens a case or adds to one (docs/cases-email.md). For the installation's
    admin: put it behind the site's mail server, which relays support's address here."""
    pr = state.postroom()
    # acknowledgements go out after the 250 answer, from a process of their own (in
    # batches over one SMTP session): this process keeps its time for taking email
    with delivery_process(pr):
        _serve(pr.case_mail, host, port)


def _serve(case_mail: CaseMail, host: str, port: int) -> None:
    server = smtp.start(case_mail, host, port)
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, stop)
    click.echo(f"postroom inbound SMTP on {host}:{server.port}", err=True)
    try:
        stopped.wait()
    finally:
        server.stop()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _maildir_messages(folder: Path) -> list[Path]:
    """The unread messages of a maildir (``new/``), oldest name first."""
    return sorted(
        p for p in (folder / "new").iterdir() if p.is_file() and not p.name.startswith(".")
    )


@mail.command("import")
@click.argument("source", metavar="FILE.eml|MAILDIR|-")
@json_option
@pass_state
def mail_import(state: CliState, source: str, as_json: bool) -> None:
    """Take support email from a file, a maildir's unread messages (each moved to
    ``cur/`` as seen once kept) or standard input (``-``: for a mail server that
    delivers by pipe). For the installation's admin. Every email is kept whatever
    becomes of it; exit code 1 only for one that could not be taken (too large)."""
    pr = state.postroom()
    try:
        batch = _batch(source)
    except OSError as error:
        raise click.BadParameter(
            f"{source} cannot be read: {error.strerror}", param_hint="SOURCE"
        ) from error
    with pr.outbox.background_sender():
        results, failed = _import(pr.case_mail, batch, as_json)
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    if failed:
        raise SystemExit(EXIT_ERROR)


def _batch(source: str) -> list[tuple[str, bytes, Path | None]]:
    """The emails to take: (name, raw bytes, the maildir file to move once kept)."""
    path = Path(source)
    if source == "-":
        return [("-", sys.stdin.buffer.read(), None)]
    if path.is_dir():
        if not (path / "new").is_dir():
            raise click.BadParameter(f"{source} is not a maildir (no new/)", param_hint="SOURCE")
        return [(str(p), p.read_bytes(), p) for p in _maildir_messages(path)]
    if path.is_file():
        return [(source, path.read_bytes(), None)]
    raise click.BadParameter(f"{source} is neither a file nor a maildir", param_hint="SOURCE")


def _import(
    case_mail: CaseMail, batch: list[tuple[str, bytes, Path | None]], as_json: bool
) -> tuple[list[dict[str, Any]], bool]:
    results: list[dict[str, Any]] = []
    failed = False
    for name, raw, maildir_file in batch:
        try:
            received = case_mail.receive(raw, source="maildir" if maildir_file else "file")
        except PostroomError as error:
            failed = True
            results.append(
                {"source": name, "error": {"code": error.code, "message": error.message}}
            )
            if not as_json:
                click.echo(f"{name}: not taken: {error.message} [{error.code}]", err=True)
            continue
        if maildir_file is not None:
            maildir_file.rename(maildir_file.parent.parent / "cur" / f"{maildir_file.name}:2,S")
        results.append({"source": name, **received_json(received)})
        if not as_json:
            where = f" {received.case_number}" if received.case_number else ""
            why = f" ({received.reason})" if received.reason else ""
            click.echo(f"{name}: {received.outcome.value}{where}{why}")
            for refused in received.refused_files:
                click.echo(f"    attachment not kept: {refused}")
    return results, failed


@mail.command("inbound")
@click.option(
    "--outcome",
    default=None,
    help="Only these: opened, appended, automatic, rejected, rate_limited, duplicate.",
)
@click.option("--raw", "raw_id", type=int, default=None, help="Print this kept email as it came.")
@limit_option()
@json_option
@pass_state
def mail_inbound(
    state: CliState, outcome: str | None, raw_id: int | None, limit: int, as_json: bool
) -> None:
    """Support email as kept, newest first, with what became of each (staff read the
    rejected, rate-limited and robots' ones here). For the installation's admin."""
    pr = state.postroom()
    if raw_id is not None:
        sys.stdout.buffer.write(pr.case_mail.original(raw_id))
        return
    kept = pr.case_mail.kept(outcome=outcome, limit=limit)
    if as_json:
        click.echo(json.dumps([kept_json(k) for k in kept], indent=2, ensure_ascii=False))
        return
    if not kept:
        click.echo("no inbound email kept")
    for k in kept:
        where = f" {k.case_number}" if k.case_number else ""
        why = f" ({k.reason})" if k.reason else ""
        click.echo(
            f"{k.id}  {k.received_at.isoformat()}  {k.outcome.value}{where}{why}  "
            f"from {k.sender or k.envelope_sender or '-'}  {k.subject}"
        )
