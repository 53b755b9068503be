"""``postroom imb``: USPS Intelligent Mail barcodes."""

from __future__ import annotations

import click

from postroom.core import imb as imb_core
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import emit


@click.group()
def imb() -> None:
    """USPS Intelligent Mail barcode (IMb)."""


@imb.command()
@click.option("--barcode-id", required=True, help="2 digits, the second 0-4.")
@click.option("--service-type", required=True, help="Service type identifier, 3 digits.")
@click.option("--mailer-id", required=True, help="Mailer ID, 6 or 9 digits.")
@click.option("--serial", required=True, help="Serial number, 9 or 6 digits (15 with mailer id).")
@click.option("--routing", default="", help="Delivery ZIP code: 5, 9 or 11 digits (dashes ok).")
@json_option
def encode(
    barcode_id: str, service_type: str, mailer_id: str, serial: str, routing: str, as_json: bool
) -> None:
    """Print the 65-letter bar string (A, D, F, T) of USPS-B-3200."""
    routing = routing.replace("-", "").replace(" ", "")
    bars = imb_core.encode(barcode_id, service_type, mailer_id, serial, routing)
    data = {
        "barcode": bars,
        "tracking": barcode_id + service_type + mailer_id + serial,
        "routing": routing,
    }
    emit(data, as_json, lambda d: d["barcode"])
