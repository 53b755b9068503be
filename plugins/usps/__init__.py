"""The USPS carrier plugin: United States Postal Service price lists as rate tables.

Each file in ``rates/`` is one price list (TOML, format in docs/rates.md) citing the
document its prices come from; postroom loads them through ``register_rate_tables``.
"""

from __future__ import annotations

from postroom.core.hookspecs import hookimpl
from postroom.core.ports import RateTableSource
from postroom.plugins.ratefiles import PackagedRateFile, rate_files

__all__ = ["PackagedRateFile", "rate_files", "register_rate_tables"]


@hookimpl
def register_rate_tables() -> list[RateTableSource]:
    return list(rate_files(__name__))
