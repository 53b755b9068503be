"""Serve a virtual postal security device over a pty or TCP (``postroom meter simulate``).

The framing layer (hal.framing) carries the meter command set; a ``DeviceReset``
raised by the device (fault injection: "reset mid-print") drops the reply, forgets the
RAM of the dispatcher and reloads the device from its state file, as a real reboot does.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from postroom.core.clock import Clock
from postroom.hal.framing import Dispatcher, Faults, Frame, Port, Server
from postroom.hal.meter.psd import LOG_CAPACITY, DeviceReset, InspectionPolicy, Psd
from postroom.hal.ptyport import PtyPort
from postroom.hal.tcpport import TcpPort


class PsdDispatcher(Dispatcher):
    """A Dispatcher whose device may reset in the middle of a command."""

    def __init__(self, simulator: MeterSimulator) -> None:
        super().__init__(lambda payload: simulator.psd.handle_bytes(payload))
        self.simulator = simulator
        self.resets = 0

    def dispatch(self, request: Frame) -> Frame | None:
        try:
            return super().dispatch(request)
        except DeviceReset:
            self.resets += 1
            self._last = None  # RAM is lost in a reboot
            self.simulator.reboot()
            return None


class MeterSimulator:
    """A PSD served on a pty (default) or a TCP port, from a thread."""

    def __init__(
        self,
        state_dir: Path | str,
        serial: str | None = None,
        *,
        currency: str = "USD",
        clock: Clock | None = None,
        policy: InspectionPolicy | None = None,
        meter_key: bytes | None = None,
        faults: Faults | None = None,
        log_capacity: int = LOG_CAPACITY,
    ) -> None:
        self.psd = Psd.open(
            state_dir,
            serial,
            currency=currency,
            clock=clock,
            policy=policy,
            meter_key=meter_key,
            log_capacity=log_capacity,
        )
        self.faults = faults if faults is not None else Faults()
        self.dispatcher = PsdDispatcher(self)
        self._port: PtyPort | TcpPort | None = None
        self.server: Server | None = None
        self._lock = threading.Lock()

    def reboot(self) -> None:
        device_faults = self.psd.faults
        self.psd = self.psd.reopen()
        self.psd.faults = device_faults

    @property
    def path(self) -> str:
        if self._port is None:
            raise RuntimeError("simulator not started")
        return str(self._port.path)

    def start(self, tcp_port: int | None = None, host: str = "127.0.0.1") -> str:
        """Serve on a new pty, or on TCP when ``tcp_port`` is given (0: any free port);
        return what clients open (a pty path or ``socket://host:port``)."""
        self._port = PtyPort.open() if tcp_port is None else TcpPort.listen(host, tcp_port)
        port: Port = self._port
        self.server = Server(port, self.dispatcher, self.faults).start()
        return self.path

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), then stop."""
        if self.server is None:
            self.start()
        try:
            threading.Event().wait()
        finally:
            self.stop()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._port is not None:
            self._port.close()

    def __enter__(self) -> MeterSimulator:
        if self.server is None:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
