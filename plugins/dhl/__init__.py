"""The DHL carrier plugin: DHL Express tracking (``tracking.py``) once its API key is set."""

from __future__ import annotations

from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Carrier
from postroom.plugins.carrier_http import CarrierHttp
from postroom.plugins.dhl.tracking import DhlTracking


@hookimpl
def register_carriers(config: Config) -> list[Carrier]:
    if not config.dhl_api_key:
        return []
    http = CarrierHttp(config.dhl_api_url, timeout=config.carrier_timeout)
    return [DhlTracking(http, config.dhl_api_key)]
