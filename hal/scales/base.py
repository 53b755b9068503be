"""What every serial scale driver shares: the reading value and line-oriented I/O."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol, Self

import attrs
import serial

from postroom.core.errors import DeviceError
from postroom.core.units import Weight

UNITS = ("oz", "lb", "g", "kg")


@attrs.frozen
class ScaleReading:
    """One weight reading, exactly as the scale displayed it.

    ``value`` is the displayed Decimal (never a float), ``unit`` one of oz, lb, g, kg,
    ``stable`` False while the scale reported motion.
    """

    value: Decimal = attrs.field(validator=attrs.validators.instance_of(Decimal))
    unit: str = attrs.field(validator=attrs.validators.in_(UNITS))
    stable: bool
    at_zero: bool = False

    @property
    def weight(self) -> Weight:
        return Weight.of(self.value, self.unit)

    def to_dict(self) -> dict[str, Any]:
        """``{"weight": {"value": "1.20", "unit": "lb"}, "stable": true}``."""
        return {"weight": {"value": str(self.value), "unit": self.unit}, "stable": self.stable}


class Port(Protocol):
    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


def parse_decimal(text: str, raw: bytes) -> Decimal:
    try:
        value = Decimal(text.replace(" ", ""))
    except InvalidOperation:
        raise protocol_error(f"not a weight: {text!r}", raw) from None
    if not value.is_finite():
        raise protocol_error(f"not a weight: {text!r}", raw)
    return value


def protocol_error(message: str, raw: bytes) -> DeviceError:
    return DeviceError(message, code="scale_protocol_error", reply=raw.decode("latin-1"))


def normalise(value: Decimal, unit: str, raw: bytes, stable: bool, at_zero: bool) -> ScaleReading:
    """A reading in one of the four postal units; a negative weight is an error."""
    unit = unit.strip().lower()
    if unit == "mg":
        value, unit = value.scaleb(-3), "g"
    elif unit in ("lbs", "#"):
        unit = "lb"
    if unit not in UNITS:
        raise DeviceError(
            f"the scale reports in {unit!r}; set it to oz, lb, g or kg",
            code="scale_unit_unsupported",
            reply=raw.decode("latin-1"),
        )
    if value < 0:
        raise DeviceError(
            f"the scale reads below zero ({value} {unit}); empty the platter and zero it",
            code="scale_under_zero",
        )
    if value == 0:
        value = value.copy_abs()  # "-0.00" reads as "0.00"
    return ScaleReading(value, unit, stable, at_zero)


class SerialScale:
    """A scale on a serial line; subclasses speak one protocol.

    ``read(stable=True)`` returns a stable reading or raises ``scale_in_motion`` after
    ``stable_timeout`` seconds; ``read(stable=False)`` returns the current reading with
    its ``stable`` flag. Both raise ``scale_overload``, ``scale_underload``,
    ``scale_under_zero``, ``scale_timeout`` (no answer within ``timeout``) or
    ``scale_protocol_error``.
    """

    protocol: ClassVar[str]
    default_baudrate: ClassVar[int] = 9600

    def __init__(
        self,
        port: Port,
        *,
        timeout: float = 1.0,
        stable_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.timeout = timeout
        self.stable_timeout = stable_timeout
        self._clock = clock

    @classmethod
    def open(
        cls,
        url: str,
        *,
        baudrate: int | None = None,
        timeout: float = 1.0,
        stable_timeout: float = 3.0,
    ) -> Self:
        """Open ``url`` with ``serial.serial_for_url`` (device path, pty, socket://, loop://)."""
        try:
            port = serial.serial_for_url(
                url, baudrate=baudrate or cls.default_baudrate, timeout=0.05
            )
        except (serial.SerialException, ValueError, OSError) as error:
            raise DeviceError(f"cannot open {url}: {error}", code="device_unavailable") from error
        return cls(port, timeout=timeout, stable_timeout=stable_timeout)

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, *, stable: bool = True) -> ScaleReading:
        raise NotImplementedError

    def zero(self) -> None:
        raise NotImplementedError

    def tare(self) -> None:
        """Take the load on the platter as tare: later readings are net of it."""
        raise DeviceError(
            f"the {self.protocol} protocol has no tare command; weigh the container apart",
            code="scale_tare_unsupported",
        )

    def transact(self, command: bytes, terminator: bytes) -> bytes:
        """Send ``command`` and return the reply up to and including ``terminator``."""
        try:
            return self._transact(command, terminator)
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"serial line failed: {error}", code="device_io_error") from error

    def _transact(self, command: bytes, terminator: bytes) -> bytes:
        self.port.reset_input_buffer()  # a late answer to an earlier command is stale
        self.port.write(command)
        reply = bytearray()
        deadline = self._clock() + self.timeout
        while self._clock() < deadline:
            # what has arrived, or wait for one byte: read(64) would sit out the port's
            # timeout on every reply shorter than 64 bytes (all of them)
            chunk = self.port.read(self.port.in_waiting or 1)
            if not chunk:
                continue
            reply += chunk
            end = reply.find(terminator)
            if end >= 0:
                return bytes(reply[: end + len(terminator)])
        raise DeviceError(
            f"the scale did not answer {command!r} within {self.timeout}s",
            code="scale_timeout",
            partial=bytes(reply).decode("latin-1"),
        )
