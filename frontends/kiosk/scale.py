"""The terminal's scale, read through the HAL for each screen that shows a weight.

The port is opened for each reading and closed again, so a scale unplugged and plugged
back in is found again without restarting the terminal; a scale that is missing, silent,
over capacity or answering garbage is a reading with a ``problem`` (its error code), shown
on the screen, never an error page.
"""

from __future__ import annotations

import threading

import attrs

from postroom.core.errors import DeviceError, ValidationError
from postroom.core.units import Weight
from postroom.hal.scales import PROTOCOLS, open_scale


@attrs.frozen
class ScaleView:
    """What the weigh screen shows of the scale."""

    weight: Weight | None = None
    stable: bool = False
    at_zero: bool = False
    problem: str | None = None

    @property
    def usable(self) -> bool:
        """A stable weight above zero: what "Use this weight" may take."""
        return (
            self.problem is None
            and self.stable
            and self.weight is not None
            and self.weight > Weight.zero()
        )


class TerminalScale:
    """The scale at ``url`` speaking ``protocol`` (nci or sics)."""

    def __init__(self, url: str, protocol: str, *, timeout: float = 1.0) -> None:
        if protocol not in PROTOCOLS:
            raise ValidationError(
                f"unknown scale protocol {protocol!r} (known: {', '.join(sorted(PROTOCOLS))})",
                code="unknown_scale_protocol",
            )
        self.url = url
        self.protocol = protocol
        self._timeout = timeout
        self._lock = threading.Lock()  # one conversation on the line at a time

    def read(self, *, stable: bool = False) -> ScaleView:
        with self._lock:
            try:
                with open_scale(
                    self.url, self.protocol, timeout=self._timeout, stable_timeout=self._timeout
                ) as scale:
                    reading = scale.read(stable=stable)
            except DeviceError as error:
                return ScaleView(problem=error.code)
        return ScaleView(reading.weight, reading.stable, reading.at_zero or reading.value == 0)

    def zero(self) -> str | None:
        """Zero the scale; the problem's code when it could not."""
        return self._command("zero")

    def tare(self) -> str | None:
        """Take the load as tare (a tray, a box); the problem's code when it could not."""
        return self._command("tare")

    def _command(self, name: str) -> str | None:
        with self._lock:
            try:
                with open_scale(self.url, self.protocol, timeout=self._timeout) as scale:
                    getattr(scale, name)()
            except DeviceError as error:
                return error.code
        return None
