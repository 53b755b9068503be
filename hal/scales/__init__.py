"""Drivers for serial postal scales and simulators that speak their protocols."""

from postroom.hal.scales.base import ScaleReading, SerialScale
from postroom.hal.scales.nci import NciScale
from postroom.hal.scales.sics import SicsScale

PROTOCOLS: dict[str, type[SerialScale]] = {"nci": NciScale, "sics": SicsScale}


def open_scale(url: str, protocol: str, **options: object) -> SerialScale:
    """Open the scale at ``url`` speaking ``protocol`` ("nci" or "sics")."""
    from postroom.core.errors import ValidationError

    try:
        driver = PROTOCOLS[protocol]
    except KeyError:
        raise ValidationError(
            f"unknown scale protocol {protocol!r} (known: {', '.join(sorted(PROTOCOLS))})",
            code="unknown_scale_protocol",
        ) from None
    return driver.open(url, **options)


__all__ = ["PROTOCOLS", "NciScale", "ScaleReading", "SerialScale", "SicsScale", "open_scale"]
