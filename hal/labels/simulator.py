"""A ZPL label printer on a loopback TCP port (or a pty), for tests and demos.

It keeps every label it receives, answers ``~HS`` with the three host-status strings of
a Zebra printer (paper out and pause flags from its state), and says nothing at all when
``offline`` (a printer switched off behind a live port)::

    with ZplPrinterSimulator() as printer:        # socket://127.0.0.1:<port>
        ZplPrinter(printer.path).print_label(zpl)
        printer.labels                            # [b"^XA...^XZ"]
"""

from __future__ import annotations

import io
import threading
from typing import Self

import attrs
import zxingcpp
from PIL import Image

from postroom.hal.labels.zpl import MODULE_DOTS, datamatrix_contents, labels_in
from postroom.hal.ptyport import PtyPort
from postroom.hal.tcpport import TcpPort


@attrs.define
class PrinterState:
    paper_out: bool = False
    paused: bool = False
    offline: bool = False
    labels: list[bytes] = attrs.field(factory=list)


class ZplPrinterSimulator:
    def __init__(
        self, *, paper_out: bool = False, paused: bool = False, offline: bool = False
    ) -> None:
        self.state = PrinterState(paper_out, paused, offline)
        self.lock = threading.Lock()
        self._port: PtyPort | TcpPort | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def path(self) -> str:
        if self._port is None:
            raise RuntimeError("the simulator is not running")
        path: str = self._port.path
        return path

    @property
    def labels(self) -> list[bytes]:
        with self.lock:
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

    def _serve(self) -> None:
        port = self._port
        if port is None:
            return
        buffer = b""
        while not self._stop.is_set():
            buffer += port.read(4096)
            with self.lock:
                if self.state.offline:
                    buffer = b""
                    continue
                while b"~HS" in buffer:
                    before, _, buffer = buffer.partition(b"~HS")
                    self._take(before)
                    port.write(self._host_status())
                end = buffer.rfind(b"^XZ")
                if end >= 0:
                    self._take(buffer[: end + 3])
                    buffer = buffer[end + 3 :]

    def _take(self, data: bytes) -> None:
        if not self.state.paper_out and not self.state.paused:
            self.state.labels.extend(labels_in(data))

    def start(self, tcp_port: int | None = 0, host: str = "127.0.0.1") -> str:
        """Serve on TCP (``tcp_port`` 0: any free port; a real printer's is 9100), or on a
        new pty when ``tcp_port`` is None."""
        self._port = PtyPort.open() if tcp_port is None else TcpPort.listen(host, tcp_port)
        self._thread = threading.Thread(target=self._serve, name="zpl-printer", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._port is not None:
            self._port.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
