"""The Canada Post carrier plugin: Canadian domestic Lettermail prices as rate tables.

Each file in ``rates/`` cites the document its prices come from (docs/rates.md).
"""

from __future__ import annotations

from postroom.core.hookspecs import hookimpl
from postroom.core.ports import RateTableSource
from postroom.plugins.ratefiles import rate_files


@hookimpl
def register_rate_tables() -> list[RateTableSource]:
    return list(rate_files(__name__))
