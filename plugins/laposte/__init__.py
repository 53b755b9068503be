"""The La Poste carrier plugin: French domestic letter prices as rate tables, and
La Poste tracking (``tracking.py``) once its API key is set.

Each file in ``rates/`` cites the document its prices come from (docs/rates.md).
"""

from __future__ import annotations

from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Carrier, RateTableSource
from postroom.plugins.carrier_http import CarrierHttp
from postroom.plugins.laposte.tracking import LaPosteTracking
from postroom.plugins.ratefiles import rate_files


@hookimpl
def register_rate_tables() -> list[RateTableSource]:
    return list(rate_files(__name__))


@hookimpl
def register_carriers(config: Config) -> list[Carrier]:
    if not config.laposte_api_key:
        return []
    http = CarrierHttp(config.laposte_api_url, timeout=config.carrier_timeout)
    return [LaPosteTracking(http, config.laposte_api_key)]
