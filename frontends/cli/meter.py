"""``postroom meter``: talk to postage meters and run the virtual postal security device."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import click

from postroom.core.errors import DeviceError, ValidationError
from postroom.core.meters.sync import DataCenter
from postroom.core.ports import MeterDevice, MeterDriver
from postroom.frontends.cli.options import account_option, day_option, json_option
from postroom.frontends.cli.output import AtomicOutput
from postroom.frontends.cli.state import (
    CliState,
    choose,
    emit,
    pass_state,
    registered,
)
from postroom.frontends.cli.vault import refund_id_option, refund_line, refund_reason_options
from postroom.frontends.serialise.meters import (
    device_registers_json,
    indicium_check_json,
    printed_indicium_json,
    printed_postage_json,
    provisioned_json,
    token_status_json,
)
from postroom.frontends.serialise.refunds import refund_json
from postroom.hal.meter.connect import run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.psd import LOG_CAPACITY, STATE_FILE
from postroom.hal.meter.remote import RemoteDataCenter
from postroom.hal.meter.simulator import MeterSimulator

DEFAULT_DRIVER = "postroom-framed"

port_option = click.option(
    "--port",
    "url",
    required=True,
    envvar="POSTROOM_METER_PORT",
    help="Serial port URL: /dev/ttyUSB0, a pty path, socket://host:port.",
)
driver_option = click.option(
    "--driver",
    default=DEFAULT_DRIVER,
    show_default=True,
    envvar="POSTROOM_METER_DRIVER",
    help="Meter driver (from a plugin's register_meter_drivers).",
)


@click.group()
def meter() -> None:
    """Postage meters: the device (simulate, identify, registers) and the data center
    (register, list, show, connect, withdraw, replace)."""


def _open(state: CliState, driver_name: str, url: str) -> MeterDevice:
    drivers: dict[str, MeterDriver] = {
        driver.name: driver for driver in registered(state, "register_meter_drivers")
    }
    return choose(drivers, driver_name, what="meter driver", option="--driver").open(url)


@meter.command()
@port_option
@driver_option
@json_option
@pass_state
def identify(state: CliState, url: str, driver: str, as_json: bool) -> None:
    """Model, serial number and firmware of the meter."""
    device = _open(state, driver, url)
    try:
        data = dict(device.identify())
    finally:
        device.close()
    emit(data, as_json, lambda d: f"{d['model']} serial {d['serial']} firmware {d['firmware']}")


def _human_registers(data: dict[str, Any]) -> str:
    from postroom.core.money import Money

    def money(mills: int) -> str:
        return Money(mills, data["currency"]).format()

    return "\n".join(
        [
            f"meter       {data['serial']}",
            f"descending  {money(data['descending'])}",
            f"ascending   {money(data['ascending'])}",
            f"control sum {money(data['control'])}",
            f"pieces      {data['pieces']}",
        ]
    )


@meter.command()
@port_option
@driver_option
@json_option
@pass_state
def registers(state: CliState, url: str, driver: str, as_json: bool) -> None:
    """The meter's signed registers (amounts in mills in --json)."""
    device = _open(state, driver, url)
    try:
        data = device_registers_json(device.registers())
    finally:
        device.close()
    emit(data, as_json, _human_registers)


@meter.command("public-key")
@click.argument("serial", required=False)
@click.option(
    "--port",
    "url",
    envvar="POSTROOM_METER_PORT",
    help="Ask the device on this port instead of the registry.",
)
@driver_option
@pass_state
def public_key(state: CliState, serial: str | None, url: str | None, driver: str) -> None:
    """The meter's ECDSA P-256 public key (PEM), which verifies its indicia.

    With SERIAL, the key the data center pinned for that registered meter; with
    --port, the key the device itself presents.
    """
    if (serial is None) == (url is None):
        raise click.UsageError("give a registered meter's SERIAL or the device's --port")
    if serial is not None:
        click.echo(state.postroom().meters.public_key(serial).rstrip("\n"))
        return
    assert url is not None
    device = _open(state, driver, url)
    try:
        click.echo(device.public_key_pem().rstrip("\n"))
    finally:
        device.close()


# ---------------------------------------------------------------- the data center
# register, provision, list, show, connect, withdraw, replace, alerts: the registry
# (pr.meters) and the sync conversation (docs/meters.md).


def _sync_device(state: CliState, driver: str, url: str) -> MeterClient:
    device = _open(state, driver, url)
    if not isinstance(device, MeterClient):
        device.close()
        raise ValidationError(
            f"the meter driver {driver!r} cannot run a data-center sync", code="driver_cannot_sync"
        )
    return device


def _money(mills: int, currency: str) -> str:
    from postroom.core.money import Money

    return Money(mills, currency).format()


def _human_meter(data: dict[str, Any]) -> str:
    registers = data.get("registers") or {}
    currency = registers.get("currency", "USD")
    virtual = bool(registers.get("virtual"))
    lines = [
        f"meter       {data['serial']} ({data['model']}, {data['status']}"
        + (", virtual" if virtual else "")
        + ")",
        f"customer    {data['customer_account']}",
    ]
    if registers:
        lines += [
            f"descending  {_money(registers['descending_mills'], currency)}"
            + ("  (the postage account's available funds)" if virtual else ""),
            f"ascending   {_money(registers['ascending_mills'], currency)}",
            f"pieces      {registers['pieces']}",
        ]
    lines.append(f"last sync   {data.get('last_sync_at') or 'never'}")
    inspection = data.get("inspection")
    if inspection:
        lines.append(f"inspection  {inspection['status']}, due {inspection['due_at'][:10]}")
    if data.get("firmware"):
        lines.append(f"firmware    {data['firmware']}")
    pieces = data.get("pieces") or []
    if pieces:
        lines.append("recent pieces:")
        lines += [
            f"  {p['piece']:>6}  {p['date']}  {_money(p['mills'], p['currency']):>10}  "
            f"{p['service']}  from {p['origin_zip']}"
            + (f"  cost centre {p['cost_center']}" if p["cost_center"] else "")
            for p in pieces
        ]
    return "\n".join(lines)


@meter.command()
@account_option()
@click.option("--product-code", help="Product code on the meter's label (e.g. PR-VPSD1).")
@click.option("--serial", help="Serial number on the meter's label.")
@click.option(
    "--installation-number",
    help="The 11-digit installation account number of the delivery note.",
)
@click.option("--carrier", help="Carrier whose rates the meter holds [default: by country].")
@click.option(
    "--port",
    "url",
    help="The meter's port: its serial and model are checked and its public key pinned.",
)
@driver_option
@json_option
@pass_state
def register(
    state: CliState,
    number: str,
    product_code: str | None,
    serial: str | None,
    installation_number: str | None,
    carrier: str | None,
    url: str | None,
    driver: str,
    as_json: bool,
) -> None:
    """Register a meter to a customer; prints the meter's API key once."""
    if installation_number is None and (product_code is None or serial is None):
        raise click.UsageError("give --product-code and --serial, or --installation-number")
    if installation_number is not None and (product_code is not None or serial is not None):
        raise click.UsageError("--installation-number replaces --product-code and --serial")
    facts: dict[str, str] = {}
    if url is not None:
        device = _open(state, driver, url)
        try:
            identity = device.identify()
            facts = {
                "device_serial": identity["serial"],
                "model_name": identity["model"],
                "firmware": identity["firmware"],
                "public_key_pem": device.public_key_pem(),
            }
        finally:
            device.close()
    done = state.postroom().meters.register(
        number,
        product_code=product_code,
        serial=serial,
        installation_number=installation_number,
        carrier=carrier,
        **facts,
    )
    data = {**done.meter.to_json(), "api_key": done.api_key}
    emit(
        data,
        as_json,
        lambda d: (
            f"meter {d['serial']} ({d['model']}) registered to {d['customer_account']}\n"
            f"meter API key (shown once, for `meter connect --api-key`): {d['api_key']}"
        ),
    )


@meter.command()
@click.option("--product-code", required=True, help="Product code of the meter shipped.")
@click.option("--serial", required=True, help="Serial number of the meter shipped.")
@json_option
@pass_state
def provision(state: CliState, product_code: str, serial: str, as_json: bool) -> None:
    """Ship a meter: issue its 11-digit installation account number and print the
    reset-token key to load into its device (secret: the device checks refills with it)."""
    meters = state.postroom().meters
    done = meters.provision(product_code, serial)
    data = provisioned_json(done) | {"reset_token_key": meters.device_reset_key(done.serial).hex()}
    emit(
        data,
        as_json,
        lambda d: (
            f"meter {d['serial']}: installation number {d['installation_number']}\n"
            f"reset-token key (secret; load it into the device, e.g. `postroom meter "
            f"simulate --serial {d['serial']} --reset-key {d['reset_token_key']}`)"
        ),
    )


@meter.command("list")
@account_option(required=False, help="Only this customer's meters.")
@json_option
@pass_state
def list_meters(state: CliState, number: str | None, as_json: bool) -> None:
    """Registered meters, with their registers as the vault keeps them."""
    data = state.postroom().meter_views.list(number)
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(
                f"{r['serial']:<20} {r['customer_account']}  {r['status']:<9} "
                f"{_money(r['registers']['descending_mills'], r['registers']['currency'])}"
                f"  {r['registers']['pieces']} pieces"
                + ("  (virtual)" if r["registers"].get("virtual") else "")
                for r in rows
            )
            or "no meters registered"
        ),
    )


@meter.command()
@click.argument("serial")
@click.option("--pieces", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
@pass_state
def show(state: CliState, serial: str, pieces: int, as_json: bool) -> None:
    """One meter: registers, last sync, inspection, firmware, features, graphics, pieces."""
    data = state.postroom().meter_views.details(serial, pieces=pieces)
    emit(data, as_json, _human_meter)


@meter.command()
@port_option
@click.option(
    "--server",
    envvar="POSTROOM_SERVER",
    help="A remote postroom data center (https://...); default: this installation.",
)
@click.option(
    "--api-key",
    "api_key",
    envvar="POSTROOM_METER_API_KEY",
    help="The meter's API key (prm_...), with --server.",
)
@driver_option
@json_option
@pass_state
def connect(
    state: CliState,
    url: str,
    server: str | None,
    api_key: str | None,
    driver: str,
    as_json: bool,
) -> None:
    """Sync the meter with the data center: refills, rates, firmware, inspection."""
    if (server is None) != (api_key is None):
        raise click.UsageError("--server and --api-key go together")
    device = _sync_device(state, driver, url)
    try:
        datacenter: DataCenter
        if server is not None and api_key is not None:
            datacenter = RemoteDataCenter(server, api_key)
        else:
            serial = device.identify()["serial"]
            datacenter = state.postroom().meters.datacenter(serial)
        outcome = run_sync(
            device, datacenter, progress=lambda step: click.echo(f"  {step}", err=True)
        )
    finally:
        device.close()
    summary = outcome.summary
    emit(
        outcome.to_json(),
        as_json,
        lambda d: (
            f"meter {d['serial']} synced: {d['pieces_uploaded']} pieces uploaded, "
            f"tokens {d['tokens_applied'] or 'none'}, installed {d['installed'] or 'nothing'}, "
            f"reconciled {d['reconciled']}, alerts {d['alerts'] or 'none'}"
        ),
    )
    if not outcome.complete:
        raise DeviceError(
            f"sync of {summary.serial} cut short ({'; '.join(outcome.errors)}): run it again",
            code="sync_incomplete",
        )


@meter.command()
@click.argument("serial")
@json_option
@pass_state
def withdraw(state: CliState, serial: str, as_json: bool) -> None:
    """Withdraw a meter: its funds return to the postage account; its next sync locks it."""
    found, moved = state.postroom().meters.withdraw(serial)
    currency = state.postroom().meters.funds.registers(found.serial).currency
    emit(
        {**found.to_json(), "returned_mills": moved},
        as_json,
        lambda d: (
            f"meter {d['serial']} withdrawn; {_money(moved, currency)} back to the postage account"
        ),
    )


@meter.command("tokens")
@click.argument("serial")
@json_option
@pass_state
def list_tokens(state: CliState, serial: str, as_json: bool) -> None:
    """The reset tokens issued for meter SERIAL: applied, live, expired or cancelled."""
    rows = [token_status_json(t) for t in state.postroom().meter_tokens.list(serial)]
    emit(
        rows,
        as_json,
        lambda d: (
            "\n".join(
                f"{r['sequence']:>5}  {_money(r['amount_mills'], r['currency']):>14}  "
                f"expires {r['expires_at']}  {r['state']}"
                for r in d
            )
            or "no tokens"
        ),
    )


@meter.command("cancel-token")
@click.argument("serial")
@click.argument("sequence", type=click.IntRange(min=1))
@json_option
@pass_state
def cancel_token(state: CliState, serial: str, sequence: int, as_json: bool) -> None:
    """Return to the postage account the refill of SERIAL's token SEQUENCE, expired unapplied.

    The worker does this a day after the expiry; the customer is told either way.
    """
    done = state.postroom().meters.cancel_token(serial, sequence)
    emit(
        done.to_json(),
        as_json,
        lambda d: (
            f"token {d['sequence']} of meter {d['serial']} cancelled: refill {d['refill_id']}"
            f" ({_money(d['amount_mills'], d['currency'])}) back to the postage account"
            f" (transfer {d['transfer_id']})"
        ),
    )


@meter.command()
@click.argument("old")
@click.argument("new")
@json_option
@pass_state
def replace(state: CliState, old: str, new: str, as_json: bool) -> None:
    """Replace meter OLD by NEW: OLD's funds go to NEW at its next sync."""
    withdrawn, successor, moved = state.postroom().meters.replace(old, new)
    currency = state.postroom().meters.funds.registers(successor.serial).currency
    emit(
        {"old": withdrawn.to_json(), "new": successor.to_json(), "moved_mills": moved},
        as_json,
        lambda d: (
            f"meter {withdrawn.serial} replaced by {successor.serial}: "
            f"{_money(moved, currency)} moved"
        ),
    )


@meter.command()
@click.argument("serial")
@account_option()
@click.option(
    "--piece",
    "pieces",
    type=click.IntRange(min=1),
    multiple=True,
    required=True,
    help="Number of a piece in the meter's uploaded log (repeat).",
)
@refund_reason_options
@refund_id_option
@json_option
@pass_state
def refund(
    state: CliState,
    serial: str,
    number: str,
    pieces: tuple[int, ...],
    reason: str,
    note: str,
    refund_id: str | None,
    as_json: bool,
) -> None:
    """Ask back misprinted pieces by number: value and date come from the piece log."""
    done = state.postroom().refunds.request_logged(
        number, refund_id or uuid.uuid4().hex, serial, list(pieces), reason, note=note
    )
    emit(refund_json(done), as_json, refund_line)


@meter.command("rotate-key")
@click.argument("serial")
@pass_state
def rotate_key(state: CliState, serial: str) -> None:
    """Issue a new API key for the meter (the old one stops working); shown once."""
    click.echo(state.postroom().meters.rotate_key(serial))


@meter.command()
@click.argument("serial", required=False)
@json_option
@pass_state
def alerts(state: CliState, serial: str | None, as_json: bool) -> None:
    """What reconciliation and syncs found (all meters, or SERIAL's)."""
    data = [a.to_json() for a in state.postroom().meters.alerts(serial)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(
                f"{r['created_at'][:19]} {r['serial']} {r['kind']}: {r['message']}" for r in rows
            )
            or "no alerts"
        ),
    )


def _reset_key(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("the reset-token key is hex") from None
    if len(key) < 16:
        raise click.BadParameter("the reset-token key is at least 16 bytes (32 hex digits)")
    return key


@meter.command()
@click.option("--serial", required=True, help="Serial number of the simulated meter.")
@click.option("--pty", "use_pty", is_flag=True, help="Serve on a new pty.")
@click.option("--tcp", "tcp_port", type=click.IntRange(0, 65535), help="Serve on this TCP port.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the device keeps its registers and keys [default: DATA_DIR/meters/SERIAL].",
)
@click.option("--currency", default="USD", show_default=True, help="Currency of the registers.")
@click.option(
    "--reset-key",
    callback=_reset_key,
    envvar="POSTROOM_METER_RESET_KEY",
    help="Hex reset-token key the device checks refills with, as `meter provision` prints "
    "it [default: this installation's key for the serial, so a data center on this machine "
    "can refill it]; loaded on the device's first start, later it must match.",
)
@click.option(
    "--log-capacity",
    type=click.IntRange(1, 1_000_000),
    default=LOG_CAPACITY,
    show_default=True,
    help="Pieces the device keeps until the data center acknowledges them; when full it "
    "refuses to print (piece_log_full) until a sync.",
)
@pass_state
def simulate(
    state: CliState,
    serial: str,
    use_pty: bool,
    tcp_port: int | None,
    state_dir: Path | None,
    currency: str,
    reset_key: bytes | None,
    log_capacity: int,
) -> None:
    """Serve a virtual postal security device; prints the URL to open, runs until Ctrl-C.

    With --pty the URL is the pty's path; with --tcp PORT it is socket://127.0.0.1:PORT.
    """
    if use_pty == (tcp_port is not None):
        raise click.UsageError("choose one place to serve: --pty or --tcp PORT")
    if state_dir is None:
        state_dir = state.config().data_dir / "meters" / serial
    if reset_key is None and not (state_dir / STATE_FILE).exists():
        # a new device: the factory load, from the data center on this machine
        reset_key = state.postroom().meters.device_reset_key(serial)
    try:
        simulator = MeterSimulator(
            state_dir, serial, currency=currency, meter_key=reset_key, log_capacity=log_capacity
        )
    except OSError as error:
        raise ValidationError(
            f"cannot use state directory {state_dir}: {error.strerror}", code="state_dir_unusable"
        ) from error
    path = simulator.start(tcp_port=tcp_port)
    click.echo(path)
    click.echo(f"meter {serial}: state in {state_dir}", err=True)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


# -- printing postage and verifying indicia ----------------------------------------------------


def _head(path: Path, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes of a file: enough for the reader to refuse a larger one."""
    with path.open("rb") as handle:
        return handle.read(limit + 1)


def _human_print(data: dict[str, Any]) -> str:
    from postroom.core.money import Money

    registers = data["registers"]
    left = Money(registers["descending"], registers["currency"]).format()
    total = Money.from_json(data["total"]).format()
    cost_center = f", cost centre {data['cost_center']}" if data["cost_center"] else ""
    return "\n".join(
        [
            f"piece {data['piece']} on meter {data['serial']}: {total} "
            f"({data['table']['carrier']} {data['rate_category']}, {data['mailing_date']}"
            f"{cost_center})",
            f"descending register {left}; request id {data['request_id']}",
            f"indicium written to {data['file']}",
        ]
    )


@meter.command("print")
@port_option
@driver_option
@click.option("--carrier", required=True, help="Carrier code (usps, laposte...).")
@click.option("--service", required=True, help="Service code (first-class-letter...).")
@click.option("--weight", required=True, help="Weight with its unit: 1.2oz, 35g.")
@click.option("--extra", "extras", multiple=True, metavar="CODE", help="Extra service; repeat.")
@click.option(
    "--from", "origin", metavar="ZIP", help="Origin ZIP; with --to, finds a zoned service's zone."
)
@click.option("--to", "destination", metavar="ZIP", help="Destination ZIP (zoned services).")
@day_option("--date", "mailing_date", help="Date of mailing, YYYY-MM-DD [default: today].")
@click.option(
    "--origin-zip",
    metavar="ZIP",
    help="ZIP of the post office where the mail is entered [default: --from].",
)
@click.option("--cost-center", help="Department charged for this piece (accounting).")
@click.option("--slogan", help="Ad slogan printed beside the indicium (60 characters).")
@click.option(
    "--graphic",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ad graphic printed left of the indicium (PNG, JPEG...; 24 mm high, 1 bit).",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Indicium image to write: FILE.png or FILE.svg.",
)
@click.option(
    "--request-id",
    help="Client id of this print (1-64 of A-Z a-z 0-9 . _ : -); the same id again "
    "renders the same piece without a second debit [default: random].",
)
@json_option
@pass_state
def print_postage(
    state: CliState,
    url: str,
    driver: str,
    carrier: str,
    service: str,
    weight: str,
    extras: tuple[str, ...],
    origin: str | None,
    destination: str | None,
    mailing_date: date | None,
    origin_zip: str | None,
    cost_center: str | None,
    slogan: str | None,
    graphic: Path | None,
    output: Path,
    request_id: str | None,
    as_json: bool,
) -> None:
    """Frank one piece: rate it, have the meter debit and sign, write the indicium image."""
    from postroom.core.meters.indicium_image import MAX_GRAPHIC_BYTES
    from postroom.core.meters.printing import PrintRequest
    from postroom.core.rates.model import Piece
    from postroom.core.units import Weight

    image_format = output.suffix.lower().lstrip(".")
    if image_format not in ("png", "svg"):
        raise click.BadParameter("the indicium is FILE.png or FILE.svg", param_hint="--output")
    # --from alone is the origin ZIP of the indicium; with --to it also finds a zone
    if destination is not None and origin is None:
        raise click.UsageError("--to needs --from: a zone runs from one ZIP to the other")
    if origin_zip is None and origin is None:
        raise click.UsageError("give --origin-zip (or --from): the ZIP printed on the indicium")
    request = PrintRequest(
        carrier=carrier,
        service=service,
        piece=Piece(Weight.parse(weight).require_positive()),
        origin_zip=origin_zip or origin or "",
        extras=extras,
        mailing_date=mailing_date,
        origin=origin,
        destination=destination,
        cost_center=cost_center,
        slogan=slogan,
        graphic=None if graphic is None else _head(graphic, MAX_GRAPHIC_BYTES),
        image_format=image_format,
    )
    pr = state.postroom()
    target = AtomicOutput(output)
    try:
        device = _open(state, driver, url)
        try:
            printed = pr.printer.print(device, request, request_id=request_id)
        finally:
            device.close()
        try:
            target.commit(printed.image)
        except OSError as error:
            raise ValidationError(
                f"piece {printed.piece.record.piece} was debited but {output} could not be "
                f"written ({error.strerror}): run the same command with --request-id "
                f"{printed.request_id} to render it again without a second debit",
                code="output_unwritable",
            ) from error
    finally:
        target.discard()
    emit({**printed_indicium_json(printed), "file": str(output)}, as_json, _human_print)


def _human_postage(data: dict[str, Any]) -> str:
    from postroom.core.money import Money

    postage = Money.from_json(data["postage"]).format()
    cost_center = f", cost centre {data['cost_center']}" if data["cost_center"] else ""
    again = "" if data["created"] else " (printed before under this key: nothing charged)"
    return "\n".join(
        [
            f"piece {data['piece']} on virtual meter {data['serial']}: {postage} "
            f"({data['carrier']} {data['service']}, {data['mailing_date']}{cost_center}){again}",
            f"idempotency key {data['idempotency_key']}",
            f"indicium written to {data['file']}",
        ]
    )


@meter.command("print-postage")
@account_option()
@click.option("--carrier", required=True, help="Carrier code (usps, laposte...).")
@click.option("--service", required=True, help="Service code (first-class-letter...).")
@click.option("--weight", required=True, help="Weight with its unit: 1.2oz, 35g.")
@click.option("--extra", "extras", multiple=True, metavar="CODE", help="Extra service; repeat.")
@click.option("--origin-zip", required=True, metavar="ZIP", help="ZIP the piece is mailed from.")
@click.option("--cost-center", help="Department charged for this piece (accounting).")
@click.option(
    "--idempotency-key",
    help="Client key of this print (1-64 of A-Z a-z 0-9 . _ : -); the same key again "
    "renders the same piece and charges nothing [default: random].",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Indicium image to write: FILE.png or FILE.svg.",
)
@json_option
@pass_state
def print_virtual_postage(
    state: CliState,
    number: str,
    carrier: str,
    service: str,
    weight: str,
    extras: tuple[str, ...],
    origin_zip: str,
    cost_center: str | None,
    idempotency_key: str | None,
    output: Path,
    as_json: bool,
) -> None:
    """Print PC postage on the account's virtual meter in the data center (no device):
    the postage account is charged, the indicium image written (docs/meters.md)."""
    from postroom.core.meters.virtual import check_idempotency_key
    from postroom.core.units import Weight

    image_format = output.suffix.lower().lstrip(".")
    if image_format not in ("png", "svg"):
        raise click.BadParameter("the indicium is FILE.png or FILE.svg", param_hint="--output")
    key = check_idempotency_key(idempotency_key)
    target = AtomicOutput(output)
    try:
        printed = state.postroom().meters.print_postage(
            number,
            carrier,
            service,
            Weight.parse(weight),
            extras,
            cost_center,
            key,
            origin_zip=origin_zip,
        )
        try:
            target.commit(printed.render(image_format))
        except OSError as error:
            raise ValidationError(
                f"piece {printed.piece} was charged but {output} could not be written "
                f"({error.strerror}): run the same command with --idempotency-key {key} to "
                "render it again without a second charge",
                code="output_unwritable",
            ) from error
    finally:
        target.discard()
    emit(
        {**printed_postage_json(printed), "created": printed.created, "file": str(output)},
        as_json,
        _human_postage,
    )


def _human_check(data: dict[str, Any]) -> str:
    lines = []
    if "serial" in data:
        lines += [
            f"meter        {data['serial']}",
            f"piece        {data['piece']}",
            f"postage      {data['postage']['amount']} {data['postage']['currency']}",
            f"mailed       {data['mailing_date']} from {data['origin_zip']}",
            f"rate         {data['rate_category']} (table {data['rate_digest'][:16]}...)",
            f"ascending    {data['ascending']} mills",
            f"descending   {data['descending']} mills",
            f"control sum  {data['control']} mills",
        ]
    if data["valid"]:
        lines.append("valid: the meter's signature verifies")
    else:
        lines.append(f"INVALID: {data['error']['message']} [{data['error']['code']}]")
    return "\n".join(lines)


@meter.command("verify-indicium")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The meter's public key (PEM, from `postroom meter public-key`).",
)
@click.option("--port", "url", help="Ask the meter at this port for its key instead.")
@click.option(
    "--serial",
    "expected_serial",
    help="The meter the indicium must come from [default with --port: that meter; "
    "without a key or port: the registered meter the indicium names].",
)
@driver_option
@json_option
@click.pass_context
def verify_indicium_command(
    ctx: click.Context,
    image: Path,
    public_key_file: Path | None,
    url: str | None,
    expected_serial: str | None,
    driver: str,
    as_json: bool,
) -> None:
    """Decode an indicium image (PNG or SVG) and check its signature and fields.

    The key is the file's (--public-key), the device's (--port), or else the one the data
    center pinned for the registered meter (--serial, or the meter the indicium names).
    Exit code 0 when valid, 1 when invalid (altered, another meter's key, bad fields),
    unreadable, or from a meter the registry does not know.
    """
    from postroom.core.clock import SystemClock, today
    from postroom.core.meters.indicium_image import MAX_IMAGE_BYTES
    from postroom.core.meters.printing import verify_indicium

    state = ctx.find_object(CliState)
    assert state is not None
    if public_key_file is not None and url is not None:
        raise click.UsageError("give one key: --public-key FILE.pem or --port URL")
    serial = expected_serial
    data = _head(image, MAX_IMAGE_BYTES)
    if public_key_file is None and url is None:
        check = state.postroom().meters.verify_indicium(data, serial=serial)
    else:
        if public_key_file is not None:
            pem = _head(public_key_file, 64 * 1024)
        else:
            assert url is not None
            device = _open(state, driver, url)
            try:
                pem = device.public_key_pem().encode()
                at_port = device.identify()["serial"]
            finally:
                device.close()
            if serial is not None and serial != at_port:
                raise ValidationError(
                    f"the meter at {url} is {at_port}, not {serial}", code="serial_mismatch"
                )
            serial = at_port
        check = verify_indicium(data, pem, today=today(SystemClock()), serial=serial)
    emit(indicium_check_json(check), as_json, _human_check)
    if not check.valid:
        ctx.exit(1)
