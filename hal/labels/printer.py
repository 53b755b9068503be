"""A ZPL label printer on ``serial.serial_for_url``: ``socket://host:9100`` for a
networked thermal printer (its raw port), ``/dev/ttyUSB0`` for a serial one.

Before a label is sent the printer is asked for its host status (``~HS``): a printer
that does not answer is ``printer_offline``, one out of labels ``printer_out_of_labels``,
one paused ``printer_paused`` — so the terminal can refuse before anything is charged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import serial

from postroom.core.errors import DeviceError

STX, ETX = b"\x02", b"\x03"


@attrs.frozen
class PrinterStatus:
    paper_out: bool
    paused: bool


def parse_host_status(reply: bytes) -> PrinterStatus:
    """The first of the three ``~HS`` strings: ``<STX>aaa,b,c,...<ETX>``, where b is the
    paper-out flag and c the pause flag."""
    start, end = reply.find(STX), reply.find(ETX)
    fields = reply[start + 1 : end].split(b",") if 0 <= start < end else []
    if len(fields) < 3 or fields[1] not in (b"0", b"1") or fields[2] not in (b"0", b"1"):
        raise DeviceError(
            "the label printer answered its status with something unreadable",
            code="printer_protocol_error",
        )
    return PrinterStatus(paper_out=fields[1] == b"1", paused=fields[2] == b"1")


class ZplPrinter:
    """The label printer at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        baudrate: int = 9600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._timeout = timeout
        self._baudrate = baudrate
        self._clock = clock

    def _open(self) -> serial.SerialBase:
        try:
            port: serial.SerialBase = serial.serial_for_url(
                self.url, baudrate=self._baudrate, timeout=0.05, write_timeout=self._timeout
            )
        except (serial.SerialException, ValueError, OSError) as error:
            raise DeviceError(
                f"the label printer at {self.url} cannot be reached: {error}",
                code="printer_offline",
            ) from None
        return port

    def _status(self, port: serial.SerialBase) -> PrinterStatus:
        port.write(b"~HS")
        reply = b""
        deadline = self._clock() + self._timeout
        while reply.count(ETX) < 3 and self._clock() < deadline:
            reply += port.read(256)
        if ETX not in reply:
            raise DeviceError("the label printer does not answer", code="printer_offline")
        return parse_host_status(reply)

    def check(self) -> PrinterStatus:
        """The printer's status; DeviceError when it cannot print now."""
        port = self._open()
        try:
            return _ready(self._status(port))
        except (serial.SerialException, OSError) as error:
            raise DeviceError(
                f"the label printer failed: {error}", code="printer_offline"
            ) from None
        finally:
            port.close()

    def print_label(self, zpl: bytes) -> None:
        """Send one label after checking that the printer can print it."""
        port = self._open()
        try:
            _ready(self._status(port))
            port.write(zpl)
            port.flush()
        except (serial.SerialException, OSError) as error:
            raise DeviceError(
                f"the label printer failed: {error}", code="printer_offline"
            ) from None
        finally:
            port.close()


def _failed(error: Exception) -> DeviceError:
    return DeviceError(f"the label printer failed: {error}", code="printer_offline")


def _ready(status: PrinterStatus) -> PrinterStatus:
    if status.paper_out:
        raise DeviceError("the label printer is out of labels", code="printer_out_of_labels")
    if status.paused:
        raise DeviceError("the label printer is paused", code="printer_paused")
    return status
