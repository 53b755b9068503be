"""``postroom meter``: talk to postage meters and run the virtual postal security device."""

from __future__ import annotations

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
