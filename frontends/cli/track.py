"""``postroom track``: tracking numbers, shipments, their journeys, refresh and reports.

``identify`` reads nothing and anybody may run it; the others are staff commands (the
CLI's trust is access to the installation's settings and database, docs/security.md)
and name the customer account with ``--account``.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import click

from postroom.core.money import Money
from postroom.core.tracking import bulk
from postroom.core.tracking import numbers as rules
from postroom.core.tracking.model import Customs, Parties, parse_status
from postroom.frontends.cli.options import account_option, json_option
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise.tracking import (
    identification_json,
    refresh_json,
    report_json,
    scan_json,
    shipment_json,
)

#: The largest CSV file ``track import`` reads (a few hundred thousand rows).
MAX_CSV_BYTES = 100_000_000


@click.group()
def track() -> None:
    """Tracking numbers and shipments."""


@track.command()
@click.argument("numbers", nargs=-1, required=True)
@json_option
def identify(numbers: tuple[str, ...], as_json: bool) -> None:
    """Say which carrier and format each NUMBER is, with its check digit verified.

    Spaces and dashes are allowed (quote a number that has spaces); an invalid number
    is an answer (``"valid": false``), not an error."""
    found = [identification_json(rules.identify(raw)) for raw in numbers]
    emit(found, as_json, _identified)


def _identified(rows: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{r['number']}  {'valid' if r['valid'] else 'INVALID'}  "
        f"{r['carrier'] or '-'}  {r['format'] or 'unknown format'}"
        for r in rows
    )


@track.command()
@account_option(param="customer_number")
@click.argument("number")
@click.option("--carrier", default=None, help="Carrier code (default: the one for the number).")
@click.option("--service", default="", help='Service, e.g. "Priority Mail".')
@click.option("--sender", default="")
@click.option("--recipient", default="")
@click.option("--origin", default="")
@click.option("--destination", default="")
@click.option("--reference", default="", help="Order id or reference.")
@click.option(
    "--mailed-on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="YYYY-MM-DD."
)
@click.option("--contents", default=None, help="Customs: what the parcel holds.")
@click.option("--hs-code", "hs_codes", multiple=True, help="Customs: an HS code (repeat).")
@click.option("--value", default=None, help='Customs: declared value, e.g. "45.00 USD".')
@click.option("--auto-trace", is_flag=True, help="Open a trace by itself if the parcel is lost.")
@json_option
@pass_state
def add(
    state: CliState,
    customer_number: str,
    number: str,
    carrier: str | None,
    service: str,
    sender: str,
    recipient: str,
    origin: str,
    destination: str,
    reference: str,
    mailed_on: Any,
    contents: str | None,
    hs_codes: tuple[str, ...],
    value: str | None,
    auto_trace: bool,
    as_json: bool,
) -> None:
    """Follow a tracking NUMBER for a customer account. Staff only."""
    customs = None
    if contents is not None or hs_codes or value is not None:
        if contents is None or value is None:
            raise click.UsageError("customs need --contents and --value")
        customs = Customs(contents, hs_codes, Money.parse(value))
    added = state.postroom().tracking.add(
        customer_number,
        number,
        carrier=carrier,
        service=service,
        parties=Parties(sender, recipient, origin, destination),
        mailed_on=None if mailed_on is None else mailed_on.date(),
        reference=reference,
        customs=customs,
        auto_trace=auto_trace,
    )
    emit(shipment_json(added), as_json, lambda d: f"following {d['number']} as shipment {d['id']}")


@track.command("list")
@account_option(param="customer_number")
@click.option("--status", default=None, help="Only shipments in this status.")
@json_option
@pass_state
def list_(state: CliState, customer_number: str, status: str | None, as_json: bool) -> None:
    """List a customer account's shipments, newest first. Staff only."""
    found = state.postroom().tracking.list(
        customer_number, status=None if status is None else parse_status(status), limit=1000
    )
    emit([shipment_json(s) for s in found], as_json, _table)


@track.command()
@account_option(param="customer_number")
@click.argument("shipment_id", type=int)
@json_option
@pass_state
def show(state: CliState, customer_number: str, shipment_id: int, as_json: bool) -> None:
    """Show a shipment, what its status means, and its journey. Staff only."""
    pr = state.postroom()
    data = shipment_json(pr.tracking.get(customer_number, shipment_id))
    data["events"] = [scan_json(scan) for scan in pr.tracking.scans(customer_number, shipment_id)]
    emit(data, as_json, _detail)


@track.command()
@account_option(required=False, param="customer_number")
@click.argument("shipment_id", type=int, required=False)
@json_option
@pass_state
def refresh(
    state: CliState, customer_number: str | None, shipment_id: int | None, as_json: bool
) -> None:
    """Ask the carrier about one shipment now (--account and SHIPMENT_ID), or about
    every shipment whose check is due (neither). Staff only."""
    pr = state.postroom()
    if shipment_id is None:
        emit(refresh_json(pr.tracking.refresh_due()), as_json, _refreshed)
        return
    if customer_number is None:
        raise click.UsageError("a SHIPMENT_ID needs --account")
    emit(shipment_json(pr.tracking.refresh(customer_number, shipment_id)), as_json, _detail)


@track.command()
@account_option(param="customer_number")
@click.argument("url")
@click.option("--shipment", "shipment_id", type=int, default=None, help="Only this shipment.")
@click.option(
    "--event",
    "events",
    multiple=True,
    help="Only changes to this status (repeat for several; none: every change).",
)
@json_option
@pass_state
def subscribe(
    state: CliState,
    customer_number: str,
    url: str,
    shipment_id: int | None,
    events: tuple[str, ...],
    as_json: bool,
) -> None:
    """POST the account's status changes to URL (signed; the secret is shown once).
    Staff only."""
    made = state.postroom().tracking.subscribe(
        customer_number, url, shipment_id=shipment_id, events=events or None
    )
    data = {
        "id": made.id,
        "url": made.url,
        "shipment_id": made.shipment_id,
        "events": sorted(s.value for s in made.events),
        "secret": made.secret,
    }
    emit(data, as_json, lambda d: f"subscription {d['id']}: secret {d['secret']} (shown once)")


@track.command()
@account_option(param="customer_number")
@json_option
@pass_state
def webhooks(state: CliState, customer_number: str, as_json: bool) -> None:
    """The account's webhook subscriptions and their delivery log. Staff only."""
    pr = state.postroom()
    data = {
        "subscriptions": [
            {"id": s.id, "url": s.url, "shipment_id": s.shipment_id}
            for s in pr.tracking.subscriptions(customer_number)
        ],
        "deliveries": [
            {
                "id": d.id,
                "subscription_id": d.subscription_id,
                "status": d.status,
                "attempts": d.attempts,
                "last_result": d.last_result,
                "created_at": d.created_at.isoformat(),
            }
            for d in pr.tracking.webhook_log(customer_number)
        ],
    }
    emit(data, as_json, _webhooks)


def _webhooks(d: dict[str, Any]) -> str:
    lines = [f"subscription {s['id']}: {s['url']}" for s in d["subscriptions"]]
    lines += [
        f"  delivery {x['id']}: {x['status']} after {x['attempts']} attempt(s), {x['last_result']}"
        for x in d["deliveries"]
    ]
    return "\n".join(lines) or "no subscriptions"


@track.command("import")
@account_option(param="customer_number")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_state
def import_(state: CliState, customer_number: str, csv_file: Path, as_json: bool) -> None:
    """Follow every number of CSV_FILE (a header row: number, carrier, service, sender,
    recipient, origin, destination, mailed_on, reference, contents, hs_codes, value).

    Valid rows are imported, bad ones listed with their line and reason; importing the
    same file again adds nothing. Staff only."""
    if csv_file.stat().st_size > MAX_CSV_BYTES:
        raise click.UsageError(f"the file is larger than {MAX_CSV_BYTES // 1_000_000} MB")
    pr = state.postroom()
    try:
        text = csv_file.read_text("utf-8-sig")
    except UnicodeDecodeError as error:
        raise click.UsageError(f"the file is not UTF-8 text (byte {error.start})") from error
    total = max(0, text.count("\n") - 1)
    with click.progressbar(length=total, label="importing", file=sys.stderr, show_pos=True) as bar:
        done = [0]

        def progress(handled: int) -> None:
            bar.update(handled - done[0])
            done[0] = handled

        report = pr.tracking.import_rows(
            customer_number, bulk.read_rows(io.StringIO(text, newline="")), progress=progress
        )
    data = {
        "added": report.added,
        "already": report.already,
        "invalid": [{"line": e.line, "code": e.code, "message": e.message} for e in report.errors],
    }
    emit(data, as_json, _imported)
    if report.errors:
        raise SystemExit(1)


def _imported(d: dict[str, Any]) -> str:
    lines = [f"added {d['added']}, already followed {d['already']}, invalid {len(d['invalid'])}"]
    lines += [f"  line {e['line']}: {e['code']}: {e['message']}" for e in d["invalid"][:200]]
    if len(d["invalid"]) > 200:
        lines.append(f"  ... and {len(d['invalid']) - 200} more (--json lists them all)")
    return "\n".join(lines)


@track.command()
@account_option(param="customer_number")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print the shipments needing attention as CSV.")
@pass_state
def report(state: CliState, customer_number: str, as_json: bool, as_csv: bool) -> None:
    """Counts by status, the delayed and lost shipments and the on-time rate (--csv: the
    delayed and lost shipments, one a line). Staff only."""
    data = report_json(state.postroom().tracking.report(customer_number))
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["list", "id", "number", "carrier", "reference", "status", "last_scan_at"])
        for name in ("delayed", "lost"):
            for row in data[name]:
                writer.writerow(
                    [name, row["id"], row["number"], row["carrier"], _cell(row["reference"]),
                     row["status"], row["last_scan_at"] or ""]
                )  # fmt: skip
        return
    emit(data, as_json, _report)


def _cell(text: str) -> str:
    """A customer's text as a CSV cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no shipments"
    return "\n".join(
        f"{r['id']:>6}  {r['number']:<34}  {r['carrier']:<10}  {r['status']['code']:<20}"
        f"  {r['reference']}"
        for r in rows
    )


def _detail(d: dict[str, Any]) -> str:
    lines = [
        f"shipment {d['id']}: {d['number']} ({d['carrier']}, {d['format']})",
        f"{d['status']['title']}: {d['status']['meaning']}",
        f"  {d['status']['what_next']}",
    ]
    if d["suggest_trace"]:
        lines.append("no movement for a week: request a trace")
    if d["proof_of_delivery"]:
        proof = d["proof_of_delivery"]
        lines.append(f"delivered {proof['delivered_at']}, signed by {proof['signed_by']}")
    lines += [
        f"  {e['time']}  {e['location']:<22}  {e['description']}" for e in d.get("events", [])
    ]
    return "\n".join(lines)


def _refreshed(d: dict[str, Any]) -> str:
    return f"checked {d['checked']}, changed {d['changed']}, failed {len(d['failures'])}"


def _report(d: dict[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in d["counts"].items() if v)
    rate = d["on_time_rate"]
    return "\n".join(
        [
            f"by status: {counts or 'no shipments'}",
            f"delayed: {len(d['delayed'])}, lost: {len(d['lost'])}",
            f"on time: {'-' if rate is None else f'{rate:.0%}'}",
        ]
    )
