"""The UPS carrier plugin: UPS tracking (``tracking.py``) once its API credentials are set."""

from __future__ import annotations

from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Carrier
from postroom.plugins.carrier_http import CarrierHttp
from postroom.plugins.ups.tracking import UpsTracking


@hookimpl
def register_carriers(config: Config) -> list[Carrier]:
    if not (config.ups_client_id and config.ups_client_secret):
        return []
    http = CarrierHttp(config.ups_api_url, timeout=config.carrier_timeout)
    return [UpsTracking(http, config.ups_client_id, config.ups_client_secret)]
