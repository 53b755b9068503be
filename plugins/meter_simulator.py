"""The built-in meter driver: postroom's framed meter protocol, as spoken by the simulator.

Registered through the ``postroom`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from postroom.core.hookspecs import hookimpl
from postroom.core.ports import MeterDevice, MeterDriver
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.psd import MODEL


class FramedMeterDriver:
    """``ports.MeterDriver`` for meters speaking docs/meter-protocol.md."""

    name = "postroom-framed"
    models = (MODEL,)

    def open(self, url: str) -> MeterDevice:
        return MeterClient.open(url)


@hookimpl
def register_meter_drivers() -> list[MeterDriver]:
    return [FramedMeterDriver()]
