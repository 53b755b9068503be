"""The FedEx carrier plugin: FedEx tracking (``tracking.py``) once its API credentials
are set."""

from __future__ import annotations

from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Carrier
from postroom.plugins.carrier_http import CarrierHttp
from postroom.plugins.fedex.tracking import FedexTracking


@hookimpl
def register_carriers(config: Config) -> list[Carrier]:
    if not (config.fedex_client_id and config.fedex_client_secret):
        return []
    http = CarrierHttp(config.fedex_api_url, timeout=config.carrier_timeout)
    return [FedexTracking(http, config.fedex_client_id, config.fedex_client_secret)]
