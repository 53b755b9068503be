"""``postroom kiosk``: the people who may print on a customer account's kiosks, and the
keys of its terminals (``postroom kiosk keys``), and the terminal's own screen
(``postroom kiosk serve``).

A PIN is never an argument (it would land in the shell's history and the process
list): it is asked at a hidden prompt, twice, or read as one line from standard input
with ``--pin-stdin`` for scripts.
"""

from __future__ import annotations

import errno
import secrets
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from waitress.server import create_server

from postroom.core.demo import demo_kiosk, load_demo
from postroom.core.errors import ConfigurationError
from postroom.core.meters.sync import DataCenter as SyncDataCenter
from postroom.frontends.cli import options
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.kiosk import ops
from postroom.frontends.kiosk.backend import DataCenter
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.meter import TerminalMeter
from postroom.frontends.kiosk.offline import (
    QUEUE_FILE,
    OfflineQueue,
    QueueFlusher,
    WatchedDataCenter,
)
from postroom.frontends.kiosk.remote import RemoteDataCenter
from postroom.frontends.kiosk.scale import TerminalScale
from postroom.frontends.kiosk.terminal import create_terminal_app
from postroom.frontends.serialise.accounts import kiosk_operator_json
from postroom.frontends.serialise.kiosks import (
    issued_kiosk_key_json,
    kiosk_key_json,
    piece_report_csv,
    piece_report_json,
)
from postroom.hal.labels import ZplPrinter
from postroom.hal.meter.remote import RemoteDataCenter as RemoteMeterDataCenter

account_option = options.account_option(help="Customer account number the kiosks print for.")
pin_stdin_option = click.option(
    "--pin-stdin", is_flag=True, help="Read the PIN as one line from standard input (no prompt)."
)


@click.group()
def kiosk() -> None:
    """Mailroom kiosks."""


@kiosk.group()
def operators() -> None:
    """Kiosk operators: who may sign in with a PIN and print (each print is booked to them)."""


def _read_pin(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    text: str = click.prompt(
        "PIN (6 to 12 digits)", hide_input=True, confirmation_prompt="Repeat the PIN"
    )
    return text


@operators.command("add")
@account_option
@click.option("--name", required=True, help="Display name shown on the kiosk's sign-in page.")
@pin_stdin_option
@json_option
@pass_state
def add(state: CliState, number: str, name: str, pin_stdin: bool, as_json: bool) -> None:
    """Add an operator to the account's kiosks; asks for their PIN."""
    operator = state.postroom().accounts.add_operator(number, name, _read_pin(pin_stdin))
    emit(
        kiosk_operator_json(operator),
        as_json,
        lambda d: f"added kiosk operator {d['id']} ({d['name']})",
    )


@operators.command("list")
@account_option
@json_option
@pass_state
def list_(state: CliState, number: str, as_json: bool) -> None:
    """List the account's kiosk operators."""
    found = state.postroom().accounts.operators(number)
    emit([kiosk_operator_json(o) for o in found], as_json, _table)


@operators.command("set-pin")
@account_option
@click.argument("operator_id", type=int)
@pin_stdin_option
@json_option
@pass_state
def set_pin(state: CliState, number: str, operator_id: int, pin_stdin: bool, as_json: bool) -> None:
    """Give operator OPERATOR_ID a new PIN (signs them out of every kiosk)."""
    operator = state.postroom().accounts.set_operator_pin(number, operator_id, _read_pin(pin_stdin))
    emit(kiosk_operator_json(operator), as_json, lambda d: f"new PIN for kiosk operator {d['id']}")


def _read_badge(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    text: str = click.prompt("Badge (hold it to the reader, or type its code)", hide_input=True)
    return text


@operators.command("set-badge")
@account_option
@click.argument("operator_id", type=int)
@click.option(
    "--badge-stdin", is_flag=True, help="Read the badge code as one line from standard input."
)
@json_option
@pass_state
def set_badge(
    state: CliState, number: str, operator_id: int, badge_stdin: bool, as_json: bool
) -> None:
    """Give operator OPERATOR_ID a badge (its code is asked, never an argument; only its
    keyed hash is kept). Signs them out of every kiosk."""
    operator = state.postroom().accounts.set_operator_badge(
        number, operator_id, _read_badge(badge_stdin)
    )
    emit(kiosk_operator_json(operator), as_json, lambda d: f"badge set for operator {d['id']}")


@operators.command("remove-badge")
@account_option
@click.argument("operator_id", type=int)
@json_option
@pass_state
def remove_badge(state: CliState, number: str, operator_id: int, as_json: bool) -> None:
    """Take operator OPERATOR_ID's badge away (a lost badge): the PIN still signs them in."""
    operator = state.postroom().accounts.set_operator_badge(number, operator_id, None)
    emit(kiosk_operator_json(operator), as_json, lambda d: f"badge removed for operator {d['id']}")


@operators.command("set-cost-centers")
@account_option
@click.argument("operator_id", type=int)
@click.argument("names", nargs=-1)
@json_option
@pass_state
def set_cost_centers(
    state: CliState, number: str, operator_id: int, names: tuple[str, ...], as_json: bool
) -> None:
    """Limit operator OPERATOR_ID to the account's cost centres NAMES (none: all of them)."""
    operator = state.postroom().kiosks.set_operator_cost_centers(number, operator_id, names)
    emit(
        kiosk_operator_json(operator),
        as_json,
        lambda d: f"kiosk operator {d['id']} books to: {', '.join(d['cost_centers']) or 'all'}",
    )


@operators.command("remove")
@account_option
@click.argument("operator_id", type=int)
@json_option
@pass_state
def remove(state: CliState, number: str, operator_id: int, as_json: bool) -> None:
    """Remove operator OPERATOR_ID (signs them out; their prints stay booked to them)."""
    operator = state.postroom().accounts.remove_operator(number, operator_id)
    emit(
        kiosk_operator_json(operator),
        as_json,
        lambda d: f"removed kiosk operator {d['id']} ({d['name']})",
    )


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no kiosk operators"
    return "\n".join(
        f"{r['id']:>5}  {r['created_at']}  {r['name']}"
        f"{'  [badge]' if r['badge'] else ''}"
        f"  cost centres: {', '.join(r['cost_centers']) or 'all'}"
        for r in rows
    )


@kiosk.command("report")
@account_option
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="The UTC day (default: today).")
@click.option("--terminal", help="One terminal only (its key's label).")
@click.option("--csv", "as_csv", is_flag=True, help="The pieces and totals as CSV.")
@json_option
@pass_state
def report(
    state: CliState,
    number: str,
    day: datetime | None,
    terminal: str | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """The pieces the account's terminals printed on a day, by cost centre and operator."""
    found = state.postroom().kiosks.report(number, day.date() if day else None, terminal=terminal)
    if as_csv:
        click.echo(piece_report_csv(found), nl=False)
        return
    emit(piece_report_json(found), as_json, _report_text)


def _report_text(data: dict[str, Any]) -> str:
    total = data["total"]
    lines = [f"{data['day']}: {len(data['pieces'])} pieces, {total['amount']} {total['currency']}"]
    for title, key in (("by cost centre", "by_cost_center"), ("by operator", "by_operator")):
        lines.append(title + ":")
        lines += [
            f"  {line['name'] or '(none)':<30} {line['pieces']:>6}  {line['postage']['amount']:>12}"
            for line in data[key]
        ]
    return "\n".join(lines)


@kiosk.group()
def keys() -> None:
    """Kiosk keys: one per mailroom terminal, scoped to one customer account, revocable."""


@keys.command("add")
@account_option
@click.option("--label", required=True, help="Where the terminal stands (Mailroom, 2nd floor).")
@json_option
@pass_state
def add_key(state: CliState, number: str, label: str, as_json: bool) -> None:
    """Issue a key for one terminal of the account; the key is shown this once."""
    issued = state.postroom().kiosks.issue_key(number, label)
    emit(
        issued_kiosk_key_json(issued),
        as_json,
        lambda d: (
            f"kiosk key {d['prefix']} ({d['label']}) for account {d['customer_number']}\n"
            f"{d['token']}\n"
            "Set it on the terminal (postroom kiosk serve --key ...): it is not shown again."
        ),
    )


@keys.command("list")
@account_option
@json_option
@pass_state
def list_keys(state: CliState, number: str, as_json: bool) -> None:
    """List the account's kiosk keys with their last contact."""
    found = state.postroom().kiosks.keys(number)
    emit([kiosk_key_json(k) for k in found], as_json, _keys_table)


@keys.command("revoke")
@account_option
@click.argument("prefix")
@json_option
@pass_state
def revoke_key(state: CliState, number: str, prefix: str, as_json: bool) -> None:
    """Revoke the account's kiosk key PREFIX: its terminal is refused from now on."""
    key = state.postroom().kiosks.revoke_key(number, prefix)
    emit(kiosk_key_json(key), as_json, lambda d: f"revoked kiosk key {d['prefix']} ({d['label']})")


def _keys_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no kiosk keys"
    return "\n".join(
        f"{r['prefix']}  {'revoked' if r['revoked_at'] else 'active ':7}  "
        f"last contact {r['last_contact_at'] or 'never'}  {r['label']}"
        for r in rows
    )


@kiosk.command("serve")
@click.option(
    "--server",
    envvar="POSTROOM_KIOSK_SERVER",
    help="The data center's URL (https://...); without it, the local store on this machine.",
)
@click.option(
    "--key",
    envvar="POSTROOM_KIOSK_KEY",
    help="This terminal's kiosk key (postroom kiosk keys add); POSTROOM_KIOSK_KEY keeps it "
    "out of the process list.",
)
@click.option("--scale", "scale_url", help="The scale's port: /dev/ttyUSB0, socket://host:port...")
@click.option(
    "--scale-protocol",
    type=click.Choice(["nci", "sics"]),
    default="nci",
    show_default=True,
    help="What the scale speaks.",
)
@click.option(
    "--printer",
    "printer_url",
    help="A ZPL label printer: socket://host:9100 (networked) or a serial port; without "
    "one, the indicium is printed from the screen (PDF/PNG for an office printer).",
)
@click.option(
    "--meter",
    "meter_url",
    help="The postage meter attached to the terminal: /dev/ttyUSB0, a pty, "
    "socket://host:port; it debits its own funds and signs each indicium.",
)
@click.option(
    "--meter-key",
    envvar="POSTROOM_METER_API_KEY",
    help="With --server and --meter: the meter's API key (prm_...), so that the inspection "
    "notice's Sync now syncs it with the data center (as postroom meter connect does).",
)
@click.option(
    "--origin-zip",
    envvar="POSTROOM_KIOSK_ORIGIN_ZIP",
    help="The ZIP or postal code the mailroom mails from.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--demo", is_flag=True, help="Local store only: load the demo and print for it.")
@pass_state
def serve(
    state: CliState,
    server: str | None,
    key: str | None,
    scale_url: str | None,
    scale_protocol: str,
    printer_url: str | None,
    meter_url: str | None,
    meter_key: str | None,
    origin_zip: str | None,
    host: str,
    port: int,
    demo: bool,
) -> None:
    """Run this mailroom terminal's screen (open it full screen: chromium --kiosk URL)."""
    data_center: DataCenter
    if server:
        if not key:
            raise click.UsageError("--server needs this terminal's --key")
        if demo:
            raise click.UsageError("--demo runs on the local store: leave out --server")
        # what waits for the data center (the attached meter's pieces, support cases)
        queue = OfflineQueue(state.config().data_dir / QUEUE_FILE)
        watched = WatchedDataCenter(RemoteDataCenter(server, key), queue)
        flusher = QueueFlusher(watched)
        watched.on_back = flusher.wake
        data_center = watched
        secret = secrets.token_hex(32)  # sessions last as long as this process
        where = server
        portal = server
        # the meter's side of a sync, over the meter's own API key
        meter_data_center: Callable[[str], SyncDataCenter] | None = None
        if meter_key:
            remote = RemoteMeterDataCenter(server, meter_key)
            meter_data_center = lambda _serial: remote  # noqa: E731 (the key names the meter)
    else:
        postroom = state.postroom()
        if demo:
            facts: dict[str, str] = {}
            load_demo(postroom, facts=facts)
            demo_kiosk(postroom)
            for name, value in facts.items():  # only on the first load: shown once
                click.echo(f"{name}: {value}")
        number = postroom.kiosks.authenticate(key).customer_number if key else None
        number = number or postroom.config.kiosk_account
        if not number:
            raise ConfigurationError(
                "this terminal prints for no account: give its --key, or set "
                "POSTROOM_KIOSK_ACCOUNT",
                code="kiosk_account_required",
            )
        data_center = LocalDataCenter(postroom, number, "local terminal")
        secret = postroom.config.resolved_secret_key()
        origin_zip = origin_zip or postroom.config.kiosk_origin_zip
        where = postroom.db.display_url
        portal = postroom.config.public_url
        flusher = None
        meter_data_center = postroom.meters.datacenter
    if not origin_zip:
        raise click.UsageError("give the mailroom's --origin-zip (or POSTROOM_KIOSK_ORIGIN_ZIP)")
    info = data_center.terminal()  # fails now, not at the first touch, on a wrong key
    scale = TerminalScale(scale_url, scale_protocol) if scale_url else None
    meter = TerminalMeter(meter_url) if meter_url else None
    app = create_terminal_app(
        data_center,
        secret_key=secret,
        origin_zip=origin_zip,
        idle_seconds=info.idle_seconds,  # the data center's: it signs operators out
        scale=scale,
        label_printer=ZplPrinter(printer_url) if printer_url else None,
        meter=meter,
        default_locale=state.config().default_locale,
    )
    sync_meter: Callable[[], None] | None = None
    if meter is not None and meter_data_center is not None:
        attached, center = meter, meter_data_center

        def sync_meter() -> None:  # the inspection notice's Sync now
            attached.sync(center)

    # the low-funds notice's fix: an administrator adds funds on the portal's dashboard
    ops.configure(
        app,
        funds_url=f"{portal.rstrip('/')}/dashboard" if portal else None,
        sync_meter=sync_meter,
    )
    try:
        listening = create_server(app, host=host, port=port, threads=4)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {port} on {host} is already in use", code="port_in_use"
            ) from error
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    click.echo(
        f"kiosk terminal of {info.account_name} ({info.customer_number}) on {where}, "
        f"serving http://{host}:{port}/ (Ctrl+C stops)"
    )
    if flusher is not None:
        flusher.start()
    try:
        listening.run()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        listening.close()
        if flusher is not None:
            flusher.stop()
