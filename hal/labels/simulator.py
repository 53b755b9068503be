"""A ZPL label printer on a loopback TCP port (a networked printer's raw port, 9100 on a
real one), for tests and demos.

It serves any number of clients at once (a terminal keeps its connection open), keeps
every label it receives, answers ``~HS`` with the three host-status strings of a Zebra
printer (paper-out and pause flags from its state), and says nothing at all when
``offline`` (a printer switched off behind a live port)::

    with ZplPrinterSimulator() as printer:        # socket://127.0.0.1:<port>
        ZplPrinter(printer.path).print_label(zpl)
        printer.wait_for_labels(1)                # [b"^XA...^XZ"]
"""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import threading
from typing import Self

import attrs
import zxingcpp
from PIL import Image

from postroom.core.errors import DeviceError
from postroom.hal.labels.zpl import MODULE_DOTS, datamatrix_contents, labels_in


@attrs.define
class PrinterState:
    paper_out: bool = False
    paused: bool = False
    offline: bool = False
    labels: list[bytes] = attrs.field(factory=list)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True  # a client that never hangs up does not hold the stop
    allow_reuse_address = True


class ZplPrinterSimulator:
    def __init__(
        self, *, paper_out: bool = False, paused: bool = False, offline: bool = False
    ) -> None:
        self.state = PrinterState(paper_out, paused, offline)
        self.changed = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.socket.getsockname()[:2]
        return f"socket://{host}:{port}"

    @property
    def labels(self) -> list[bytes]:
        with self.changed:
            return list(self.state.labels)

    def wait_for_labels(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """The labels once ``count`` have arrived; DeviceError after ``timeout`` seconds."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.state.labels) >= count, timeout):
                raise DeviceError(
                    f"the printer received {len(self.state.labels)} labels, not {count}",
                    code="printer_timeout",
                )
            return list(self.state.labels)

    @staticmethod
    def printed_symbols(label: bytes, dots: int = MODULE_DOTS) -> list[bytes]:
        """Each ``^BX`` symbol of ``label`` as the printer would put it on paper (a PNG,
        ``dots`` pixels a module, with a quiet zone), to be scanned like a real label."""
        images = []
        for content in datamatrix_contents(label):
            barcode = zxingcpp.create_barcode(
                content, zxingcpp.BarcodeFormat.DataMatrix, force_square=True
            )
            pixels = barcode.to_image(scale=dots, add_quiet_zones=True)
            buffer = io.BytesIO()
            height, width = pixels.shape[0], pixels.shape[1]
            raw = memoryview(pixels).tobytes()  # type: ignore[arg-type]  # a buffer
            Image.frombytes("L", (width, height), raw).save(buffer, format="PNG")
            images.append(buffer.getvalue())
        return images

    def _host_status(self) -> bytes:
        paper, pause = int(self.state.paper_out), int(self.state.paused)
        return (
            f"\x02030,{paper},{pause},1218,000,0,0,0,000,0,0,0\x03\r\n"
            "\x02000,0,0,0,1,2,6,0,00000000,1,000\x03\r\n"
            "\x021234,0\x03\r\n"
        ).encode("ascii")

    def _take(self, data: bytes) -> None:
        if not self.state.paper_out and not self.state.paused:
            self.state.labels.extend(labels_in(data))
            self.changed.notify_all()

    def _serve_client(self, connection: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                data = connection.recv(4096)
            except OSError:
                return
            if not data:
                return
            buffer += data
            replies = []
            with self.changed:
                if self.state.offline:
                    buffer = b""
                    continue
                while b"~HS" in buffer:
                    before, _, buffer = buffer.partition(b"~HS")
                    self._take(before)
                    replies.append(self._host_status())
                end = buffer.rfind(b"^XZ")
                if end >= 0:
                    self._take(buffer[: end + 3])
                    buffer = buffer[end + 3 :]
            for reply in replies:
                with contextlib.suppress(OSError):
                    connection.sendall(reply)

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve on ``host``:``port`` (0: any free port); return the URL clients open."""
        simulator = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                simulator._serve_client(self.request)

        self._server = _Server((host, port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.path

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(2)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
