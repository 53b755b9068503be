"""A ZPL label printer on ``serial.serial_for_url``: ``socket://host:9100`` for a
networked thermal printer (its raw port), ``/dev/ttyUSB0`` for a serial one.

Before a label is sent the printer is asked for its host status (``~HS``): a printer
that does not answer is ``printer_offline``, one out of labels ``printer_out_of_labels``,
one paused ``printer_paused`` — so the terminal can refuse before anything is charged.
"""

from __future__ import annotations

import contextlib
import threading
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
    """The label printer at ``url``. The connection stays open between labels (opening
    and closing a TCP one costs pyserial a 0.3 s pause each time) and is opened again
    after any failure."""

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
        self._port: serial.SerialBase | None = None
        self._lock = threading.Lock()  # one conversation with the printer at a time

    def _open(self) -> serial.SerialBase:
        if self._port is not None:
            return self._port
        try:
            self._port = serial.serial_for_url(
                self.url, baudrate=self._baudrate, timeout=0.05, write_timeout=self._timeout
            )
        except (serial.SerialException, ValueError, OSError) as error:
            raise DeviceError(
                f"the label printer at {self.url} cannot be reached: {error}",
                code="printer_offline",
            ) from None
        return self._port

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None

    def _status(self, port: serial.SerialBase) -> PrinterStatus:
        port.reset_input_buffer()  # nothing left over from a conversation cut short
        port.write(b"~HS")
        reply = b""
        deadline = self._clock() + self._timeout
        while reply.count(ETX) < 3 and self._clock() < deadline:
            reply += port.read(max(1, port.in_waiting))
        if ETX not in reply:
            raise DeviceError("the label printer does not answer", code="printer_offline")
        return parse_host_status(reply)

    def _converse(self, label: bytes | None) -> PrinterStatus:
        with self._lock:
            port = self._open()
            try:
                status = _ready(self._status(port))
                if label is not None:
                    port.write(label)
                    port.flush()
            except DeviceError:
                self._drop()
                raise
            except (serial.SerialException, OSError) as error:
                self._drop()
                raise _failed(error) from None
            return status

    def check(self) -> PrinterStatus:
        """The printer's status; DeviceError when it cannot print now."""
        return self._converse(None)

    def print_label(self, zpl: bytes) -> None:
        """Send one label after checking that the printer can print it."""
        self._converse(zpl)


def _failed(error: Exception) -> DeviceError:
    return DeviceError(f"the label printer failed: {error}", code="printer_offline")


def _ready(status: PrinterStatus) -> PrinterStatus:
    if status.paper_out:
        raise DeviceError("the label printer is out of labels", code="printer_out_of_labels")
    if status.paused:
        raise DeviceError("the label printer is paused", code="printer_paused")
    return status
