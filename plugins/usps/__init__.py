"""The USPS carrier plugin: United States Postal Service price lists as rate tables,
and USPS tracking (``tracking.py``) once its API credentials are set.

Each file in ``rates/`` is one price list (TOML, format in docs/rates.md) citing the
document its prices come from; postroom loads them through ``register_rate_tables``.
"""

from __future__ import annotations

from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Carrier, RateTableSource
from postroom.plugins.carrier_http import CarrierHttp
from postroom.plugins.ratefiles import PackagedRateFile, rate_files
from postroom.plugins.usps.tracking import UspsTracking

__all__ = ["PackagedRateFile", "rate_files", "register_carriers", "register_rate_tables"]


@hookimpl
def register_rate_tables() -> list[RateTableSource]:
    return list(rate_files(__name__))


@hookimpl
def register_carriers(config: Config) -> list[Carrier]:
    if not (config.usps_client_id and config.usps_client_secret):
        return []
    http = CarrierHttp(config.usps_api_url, timeout=config.carrier_timeout)
    return [UspsTracking(http, config.usps_client_id, config.usps_client_secret)]
