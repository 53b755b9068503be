"""The built-in scale drivers: NCI (Weigh-Tronix, Brecknell) and Mettler-Toledo MT-SICS.

Registered through the ``postroom`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from postroom.core.hookspecs import hookimpl
from postroom.core.ports import Scale
from postroom.hal.scales import PROTOCOLS, SerialScale


class SerialScaleDriver:
    """``ports.Scale`` for one protocol: opens the port for each call, then closes it."""

    def __init__(self, driver: type[SerialScale]) -> None:
        self.driver = driver
        self.protocol = driver.protocol

    def read(self, url: str, *, stable: bool = True) -> Mapping[str, Any]:
        with self.driver.open(url) as scale:
            reading: dict[str, Any] = scale.read(stable=stable).to_dict()
            return reading

    def zero(self, url: str) -> None:
        with self.driver.open(url) as scale:
            scale.zero()


@hookimpl
def register_scales() -> list[Scale]:
    return [SerialScaleDriver(driver) for driver in PROTOCOLS.values()]
