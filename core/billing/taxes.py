"""Sales taxes as data: which taxes an invoice line carries for a customer's country
and region (a US state, a Canadian province), read from a TOML table
(``tax_rates.toml`` beside this module, or the file ``POSTROOM_BILLING_TAX_FILE`` names).

A country with a ``"*"`` entry taxes every region alike (France: TVA 20 %). A country
the table does not name is billed without tax (an export); a named country needs the
customer's region, and an unknown region is refused rather than guessed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

import attrs

from postroom.core.billing.model import TaxRate
from postroom.core.errors import ConfigurationError, ValidationError

ANY_REGION = "*"
#: A rate's precision: 9.975 % (Québec) is the finest one in use.
MAX_RATE_DECIMALS = 4


@attrs.frozen
class TaxTable:
    #: country -> region (or ``*``) -> the taxes, in the order printed
    rates: Mapping[str, Mapping[str, tuple[TaxRate, ...]]]

    @classmethod
    def default(cls) -> TaxTable:
        text = (
            resources.files("postroom.core.billing").joinpath("tax_rates.toml").read_text("utf-8")
        )
        return cls.from_toml(text, "tax_rates.toml")

    @classmethod
    def from_file(cls, path: Path) -> TaxTable:
        try:
            text = path.read_text("utf-8")
        except OSError as error:
            raise ConfigurationError(
                f"cannot read the tax table {path.name}: {error.strerror}"
            ) from None
        return cls.from_toml(text, path.name)

    @classmethod
    def from_toml(cls, text: str, name: str) -> TaxTable:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigurationError(f"tax table {name}: {error}") from None
        rates: dict[str, dict[str, tuple[TaxRate, ...]]] = {}
        for country, regions in data.items():
            if not isinstance(regions, dict):
                raise ConfigurationError(f"tax table {name}: [{country}] is a table of regions")
            rates[country.upper()] = {
                region.upper(): tuple(_rate(entry, name, country, region) for entry in entries)
                for region, entries in regions.items()
            }
        return cls(rates)

    def rates_for(self, country: str, region: str | None) -> tuple[TaxRate, ...]:
        regions = self.rates.get(country.upper())
        if regions is None:
            return ()
        if ANY_REGION in regions:
            return regions[ANY_REGION]
        if region is None:
            raise ValidationError(
                f"invoices to {country} need the customer's state or province",
                code="billing_region_required",
            )
        found = regions.get(region.upper())
        if found is None:
            raise ValidationError(f"{region} is not a region of {country}", code="unknown_region")
        return found


def _rate(entry: object, name: str, country: str, region: str) -> TaxRate:
    where = f"tax table {name}: {country}.{region}"
    if not isinstance(entry, dict) or set(entry) != {"name", "rate"}:
        raise ConfigurationError(f'{where}: each tax is {{ name = ..., rate = "..." }}')
    tax_name, rate = entry["name"], entry["rate"]
    if not isinstance(tax_name, str) or not tax_name.strip() or not isinstance(rate, str):
        raise ConfigurationError(f'{where}: a tax\'s name and rate are text ("7.25")')
    try:
        percent = Decimal(rate)
    except InvalidOperation:
        raise ConfigurationError(f"{where}: {rate!r} is not a percent") from None
    exponent = percent.as_tuple().exponent
    if (
        not percent.is_finite()
        or not 0 <= percent < 100
        or (isinstance(exponent, int) and exponent < -MAX_RATE_DECIMALS)
    ):
        raise ConfigurationError(f"{where}: {rate!r} is not a percent from 0 to 100")
    return TaxRate(tax_name.strip(), percent)
