"""``postroom rates``: price tables, quotes, comparisons, imports."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from postroom.core.errors import ValidationError
from postroom.core.money import Money
from postroom.core.rates.model import Piece, Quote, RateTable, StepPricing
from postroom.core.rates.service import Comparison, ImportReport
from postroom.core.units import Dimensions, Weight
from postroom.frontends.cli.options import day_option, json_option
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise.rates import comparison_json, import_report_json, quote_json


@click.group()
def rates() -> None:
    """Postal price tables: list, show, quote, compare, import."""


# -- shared options ----------------------------------------------------------------------------

date_option = day_option(help="Price on this day (YYYY-MM-DD; default today).")
extra_option = click.option(
    "--extra",
    "extras",
    multiple=True,
    metavar="CODE",
    help="Extra service (certified, return-receipt...); repeat for several.",
)
weight_option = click.option(
    "--weight", required=True, help="Weight with its unit: 1.2oz, 35g, 1 lb 4 oz."
)
dimensions_option = click.option(
    "--dimensions", help="Length x height x thickness with a unit: 9.5x4.125x0.1in."
)
from_option = click.option("--from", "origin", metavar="ZIP", help="Origin ZIP code.")
to_option = click.option("--to", "destination", metavar="ZIP", help="Destination ZIP code.")


def _piece(
    weight: str,
    dimensions: str | None = None,
    nonmachinable: bool = False,
    declared_value: str | None = None,
    currency: str = "USD",
) -> Piece:
    return Piece(
        Weight.parse(weight).require_positive(),
        Dimensions.parse(dimensions) if dimensions else None,
        machinable=not nonmachinable,
        declared_value=Money.parse(declared_value, currency) if declared_value else None,
    )


def _zip_pair(origin: str | None, destination: str | None) -> None:
    if (origin is None) != (destination is None):
        raise ValidationError("give both --from and --to", code="invalid_zip")


# -- commands ----------------------------------------------------------------------------------


@rates.command("list")
@click.option("--carrier", help="Only this carrier.")
@click.option("--service", help="Only this service.")
@json_option
@pass_state
def list_(state: CliState, carrier: str | None, service: str | None, as_json: bool) -> None:
    """Every published rate table, oldest first per service."""
    tables = state.postroom().rates.list_tables(carrier, service)
    data = [
        {
            "carrier": t.carrier,
            "service": t.service,
            "name": t.name,
            "currency": t.currency,
            "effective_from": t.effective_from.isoformat(),
            "effective_until": t.effective_until.isoformat() if t.effective_until else None,
            "digest": t.digest,
            "source": {"document": t.source_document, "url": t.source_url},
            "origin": t.origin,
        }
        for t in tables
    ]

    def human(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no rate tables"
        return "\n".join(
            f"{r['carrier']:<10} {r['service']:<24} from {r['effective_from']}  "
            f"{r['currency']}  {r['digest'][:12]}  {r['name']}"
            for r in rows
        )

    emit(data, as_json, human)


@rates.command()
@click.argument("ref")
@date_option
@json_option
@pass_state
def show(state: CliState, ref: str, on: date | None, as_json: bool) -> None:
    """One table in full: REF is a digest (8+ characters) or CARRIER/SERVICE (in force --date)."""
    service = state.postroom().rates
    if "/" in ref:
        carrier, _, code = ref.partition("/")
        table = service.in_force(carrier, code, on)
    else:
        table = service.get(ref)
    data = {"digest": table.digest, **table.canonical()}
    emit(data, as_json, lambda _: _describe(table))


def _describe(table: RateTable) -> str:
    lines = [
        f"{table.carrier}/{table.service}: {table.name}",
        f"  effective from {table.effective_from.isoformat()}"
        + (f" until {table.effective_until.isoformat()}" if table.effective_until else ""),
        f"  digest {table.digest}",
        f"  source {table.source.document} <{table.source.url}>",
        f"  shape {table.shape}, at most {table.limits.max_weight}",
    ]
    pricing = table.pricing
    if isinstance(pricing, StepPricing):
        lines.append(f"  {pricing.describe()}")
    else:
        lines.append("  up to" + "".join(f"  zone {z}" for z in pricing.zones))
        for bracket in pricing.brackets:
            lines.append(f"  {bracket.up_to}  " + "  ".join(p.amount for p in bracket.prices))
    for extra in table.extras:
        price = str(extra.price) if extra.price else "by declared value"
        lines.append(f"  extra {extra.code}: {extra.name}, {price}")
    if table.delivery:
        lines.append(f"  delivery: {table.delivery}")
    return "\n".join(lines)


@rates.command()
@click.option("--carrier", required=True, help="Carrier code (usps...).")
@click.option("--service", required=True, help="Service code (first-class-letter...).")
@weight_option
@dimensions_option
@date_option
@extra_option
@from_option
@to_option
@click.option("--zone", help="Zone, instead of --from/--to.")
@click.option("--nonmachinable", is_flag=True, help="The piece cannot go through machines.")
@click.option("--declared-value", help="Declared value for insurance (12.34 or 12.34 USD).")
@json_option
@pass_state
def quote(
    state: CliState,
    carrier: str,
    service: str,
    weight: str,
    dimensions: str | None,
    on: date | None,
    extras: tuple[str, ...],
    origin: str | None,
    destination: str | None,
    zone: str | None,
    nonmachinable: bool,
    declared_value: str | None,
    as_json: bool,
) -> None:
    """Price one piece, line by line."""
    _zip_pair(origin, destination)
    pr = state.postroom()
    piece = _piece(weight, dimensions, nonmachinable, declared_value)
    result = pr.rates.quote(
        piece,
        carrier,
        service,
        extras,
        on=on,
        zone=zone,
        origin=origin,
        destination=destination,
    )
    emit(quote_json(result), as_json, lambda _: _quote_text(result))


def _quote_text(result: Quote) -> str:
    width = max(len(line.description) for line in result.lines)
    lines = [f"{line.description:<{width}}  {line.amount.amount:>8}" for line in result.lines]
    lines.append(f"{'total ' + result.total.currency:<{width}}  {result.total.amount:>8}")
    table = result.table
    lines.append(
        f"({table.carrier}/{table.service} from {table.effective_from.isoformat()}, "
        f"digest {table.digest[:12]}; {table.source.document})"
    )
    return "\n".join(lines)


@rates.command()
@weight_option
@dimensions_option
@date_option
@extra_option
@from_option
@to_option
@click.option("--carrier", "carriers", multiple=True, help="Only these carriers (repeatable).")
@json_option
@pass_state
def compare(
    state: CliState,
    weight: str,
    dimensions: str | None,
    on: date | None,
    extras: tuple[str, ...],
    origin: str | None,
    destination: str | None,
    carriers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Which service is cheapest for this piece, across all loaded carriers: one ranking
    per currency (prices in different currencies are never ranked against each other)."""
    _zip_pair(origin, destination)
    result = state.postroom().rates.compare(
        _piece(weight, dimensions),
        extras,
        on=on,
        origin=origin,
        destination=destination,
        carriers=list(carriers) or None,
    )
    emit(comparison_json(result), as_json, lambda _: _compare_text(result))


def _compare_text(result: Comparison) -> str:
    lines = []
    for currency in result.currencies:  # a price is only ranked against its own currency
        lines.append(f"in {currency}, cheapest first:")
        for option in result.in_currency(currency):
            table = option.table
            delivery = f"  ({table.delivery})" if table.delivery else ""
            lines.append(
                f"  {option.total.amount:>8} {option.total.currency}  "
                f"{table.carrier}/{table.service}{delivery}"
            )
    if not lines:
        lines.append("no service can carry this piece")
    for refusal in result.refused:
        lines.append(f"  not {refusal.carrier}/{refusal.service}: {refusal.message}")
    return "\n".join(lines)


@rates.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_state
def import_(state: CliState, file: Path, as_json: bool) -> None:
    """Publish the tables of a rate file (validated whole first; all or nothing)."""
    report = state.postroom().rates.import_file(_read(file), file.name)
    emit(import_report_json(report), as_json, lambda _: _report_text(report))


@rates.command("import-zones")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--carrier", default="usps", show_default=True, help="Carrier of the chart.")
@json_option
@pass_state
def import_zones(state: CliState, file: Path, carrier: str, as_json: bool) -> None:
    """Load an origin-ZIP3 x destination-ZIP3 zone chart (CSV: origin,destination,zone)."""
    count = state.postroom().rates.import_zones(carrier, _read(file), file.name)
    emit(
        {"carrier": carrier, "pairs": count},
        as_json,
        lambda d: f"{d['pairs']} zone pairs loaded for {d['carrier']}",
    )


@rates.command()
@json_option
@pass_state
def sync(state: CliState, as_json: bool) -> None:
    """Load the rate tables the installed plugins ship (idempotent)."""
    report = state.postroom().rates.sync_plugin_tables()
    emit(import_report_json(report), as_json, lambda _: _report_text(report))
    if report.failed:
        raise SystemExit(1)


def _read(file: Path) -> str:
    try:
        return file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"cannot read {file}: {error}", code="unreadable_file") from error


def _report_text(report: ImportReport) -> str:
    lines = [f"added {label}" for label in report.added]
    lines += [f"already there {label}" for label in report.unchanged]
    lines += [f"FAILED {name}: {error}" for name, error in report.failed]
    return "\n".join(lines) or "nothing to load"
