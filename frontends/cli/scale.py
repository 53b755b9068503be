"""``postroom scale``: read, zero and simulate serial postal scales."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import click

from postroom.core.ports import Scale
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import (
    CliState,
    choose,
    emit,
    pass_state,
    registered,
)
from postroom.hal.scales.simulators import NciSimulator, SicsSimulator

SIMULATORS = {"nci": NciSimulator, "sics": SicsSimulator}

port_option = click.option(
    "--port",
    "url",
    required=True,
    envvar="POSTROOM_SCALE_PORT",
    help="Serial port URL: /dev/ttyUSB0, a pty path, socket://host:port.",
)
protocol_option = click.option(
    "--protocol",
    required=True,
    envvar="POSTROOM_SCALE_PROTOCOL",
    help="Scale protocol: nci (Weigh-Tronix, Brecknell) or sics (Mettler-Toledo), or a plugin's.",
)


@click.group()
def scale() -> None:
    """Serial postal scales."""


def _driver(state: CliState, protocol: str) -> Scale:
    drivers: dict[str, Scale] = {
        driver.protocol: driver for driver in registered(state, "register_scales")
    }
    return choose(drivers, protocol, what="protocol", option="--protocol")


def _human(reading: dict[str, Any]) -> str:
    weight = reading["weight"]
    return f"{weight['value']} {weight['unit']} ({'stable' if reading['stable'] else 'in motion'})"


@scale.command()
@port_option
@protocol_option
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for a stable weight, or take the current one.",
)
@json_option
@pass_state
def read(state: CliState, url: str, protocol: str, wait: bool, as_json: bool) -> None:
    """Read the weight on the scale."""
    reading = dict(_driver(state, protocol).read(url, stable=wait))
    emit(reading, as_json, _human)


@scale.command()
@port_option
@protocol_option
@pass_state
def zero(state: CliState, url: str, protocol: str) -> None:
    """Zero the scale (the platter must be empty and still)."""
    _driver(state, protocol).zero(url)
    click.echo("zeroed")


def _weight(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise click.BadParameter(f"not a decimal number: {value!r}")
    return result


@scale.command()
@click.option("--protocol", type=click.Choice(sorted(SIMULATORS)), required=True)
@click.option("--pty", "use_pty", is_flag=True, help="Serve on a new pty.")
@click.option("--tcp", "tcp_port", type=click.IntRange(0, 65535), help="Serve on this TCP port.")
@click.option("--weight", default="0.00", callback=_weight, help="Weight on the platter.")
@click.option("--unit", type=click.Choice(["oz", "lb", "g", "kg"]), default=None)
def simulate(
    protocol: str, use_pty: bool, tcp_port: int | None, weight: Decimal, unit: str | None
) -> None:
    """Serve a simulated scale; prints the port URL to open, runs until Ctrl-C.

    With --pty the URL is the pty's path; with --tcp PORT it is socket://127.0.0.1:PORT.
    """
    if use_pty == (tcp_port is not None):
        raise click.UsageError("choose one place to serve: --pty or --tcp PORT")
    simulator = SIMULATORS[protocol](weight=weight, unit=unit)
    path = simulator.start(tcp_port=tcp_port)
    click.echo(path)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
