"""Drivers for serial postal scales and simulators that speak their protocols."""

from postroom.core.errors import ValidationError
from postroom.hal.scales.base import ScaleReading, SerialScale
from postroom.hal.scales.nci import NciScale
from postroom.hal.scales.sics import SicsScale

PROTOCOLS: dict[str, type[SerialScale]] = {"nci": NciScale, "sics": SicsScale}


def open_scale(
    url: str,
    protocol: str,
    *,
    baudrate: int | None = None,
    timeout: float = 1.0,
    stable_timeout: float = 3.0,
) -> SerialScale:
    """Open the scale at ``url`` speaking ``protocol`` ("nci" or "sics")."""
    try:
        driver = PROTOCOLS[protocol]
    except KeyError:
        raise ValidationError(
            f"unknown scale protocol {protocol!r} (known: {', '.join(sorted(PROTOCOLS))})",
            code="unknown_scale_protocol",
        ) from None
    return driver.open(url, baudrate=baudrate, timeout=timeout, stable_timeout=stable_timeout)


__all__ = ["PROTOCOLS", "NciScale", "ScaleReading", "SerialScale", "SicsScale", "open_scale"]
