"""``postroom meter``: talk to postage meters and run the virtual postal security device."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from postroom.core.errors import ValidationError
from postroom.core.ports import MeterDevice, MeterDriver
from postroom.frontends.cli.state import (
    CliState,
    choose,
    emit,
    json_option,
    pass_state,
    registered,
)
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
    """Postage meters: the device side (simulate, identify, registers, public key)."""


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
        data = device.registers().to_json()
    finally:
        device.close()
    emit(data, as_json, _human_registers)


@meter.command("public-key")
@port_option
@driver_option
@pass_state
def public_key(state: CliState, url: str, driver: str) -> None:
    """The meter's ECDSA P-256 public key (PEM), which verifies its indicia."""
    device = _open(state, driver, url)
    try:
        click.echo(device.public_key_pem().rstrip("\n"))
    finally:
        device.close()


def _meter_key(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("the meter key is hex") from None
    if len(key) < 16:
        raise click.BadParameter("the meter key is at least 16 bytes (32 hex digits)")
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
    "--meter-key",
    callback=_meter_key,
    envvar="POSTROOM_METER_KEY",
    help="Hex HMAC key shared with the data center for reset tokens, provisioned on the "
    "meter's first start (generated when absent); later it must match.",
)
@pass_state
def simulate(
    state: CliState,
    serial: str,
    use_pty: bool,
    tcp_port: int | None,
    state_dir: Path | None,
    currency: str,
    meter_key: bytes | None,
) -> None:
    """Serve a virtual postal security device; prints the URL to open, runs until Ctrl-C.

    With --pty the URL is the pty's path; with --tcp PORT it is socket://127.0.0.1:PORT.
    """
    if use_pty == (tcp_port is not None):
        raise click.UsageError("choose one place to serve: --pty or --tcp PORT")
    if state_dir is None:
        state_dir = state.config().data_dir / "meters" / serial
    try:
        simulator = MeterSimulator(state_dir, serial, currency=currency, meter_key=meter_key)
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


class _Output:
    """The indicium file, written atomically; its temporary file is made before the meter
    is asked to print, so a folder that cannot be written costs no postage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise ValidationError(f"no folder {folder} for --output", code="output_unwritable")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        except OSError as error:
            raise ValidationError(
                f"cannot write in {folder}: {error.strerror}", code="output_unwritable"
            ) from error
        self.fd, self.tmp = fd, Path(name)

    def commit(self, data: bytes) -> None:
        fd, self.fd = self.fd, -1  # the file object owns (and closes) the descriptor now
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Remove what is left of the temporary file (nothing after a commit)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


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
@click.option("--from", "origin", metavar="ZIP", help="Origin ZIP (zoned services).")
@click.option("--to", "destination", metavar="ZIP", help="Destination ZIP (zoned services).")
@click.option(
    "--date",
    "mailing_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date of mailing, YYYY-MM-DD [default: today].",
)
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
    mailing_date: Any,
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
    from postroom.core.meters.printing import PrintRequest, print_indicium
    from postroom.core.rates.model import Piece
    from postroom.core.units import Weight

    image_format = output.suffix.lower().lstrip(".")
    if image_format not in ("png", "svg"):
        raise click.BadParameter("the indicium is FILE.png or FILE.svg", param_hint="--output")
    if (origin is None) != (destination is None):
        raise click.UsageError("give both --from and --to, or neither")
    if origin_zip is None and origin is None:
        raise click.UsageError("give --origin-zip (or --from): the ZIP printed on the indicium")
    request = PrintRequest(
        carrier=carrier,
        service=service,
        piece=Piece(Weight.parse(weight).require_positive()),
        origin_zip=origin_zip or origin or "",
        extras=extras,
        mailing_date=None if mailing_date is None else mailing_date.date(),
        origin=origin,
        destination=destination,
        cost_center=cost_center,
        slogan=slogan,
        graphic=None if graphic is None else _head(graphic, MAX_GRAPHIC_BYTES),
        image_format=image_format,
    )
    pr = state.postroom()
    target = _Output(output)
    try:
        device = _open(state, driver, url)
        try:
            printed = print_indicium(
                pr.rates,
                device,
                request,
                clock=pr.clock,
                request_id=request_id,
                # the rate package a sync installs, where the meters area provides one
                rate_package=getattr(getattr(pr, "meters", None), "rate_package", None),
            )
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
    emit({**printed.to_json(), "file": str(output)}, as_json, _human_print)


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
    help="The meter the indicium must come from [default with --port: that meter].",
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

    Exit code 0 when valid, 1 when invalid (altered, another meter's key, bad fields)
    or unreadable.
    """
    from postroom.core.clock import SystemClock, today
    from postroom.core.meters.indicium_image import MAX_IMAGE_BYTES
    from postroom.core.meters.printing import verify_indicium

    state = ctx.find_object(CliState)
    assert state is not None
    if (public_key_file is None) == (url is None):
        raise click.UsageError("give the meter's key: --public-key FILE.pem or --port URL")
    serial = expected_serial
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
    data = _head(image, MAX_IMAGE_BYTES)
    check = verify_indicium(data, pem, today=today(SystemClock()), serial=serial)
    emit(check.to_json(), as_json, _human_check)
    if not check.valid:
        ctx.exit(1)
