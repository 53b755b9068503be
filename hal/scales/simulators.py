"""Simulated NCI and MT-SICS scales serving on a pty, for tests, demos and kiosks.

A simulator has a settable state (weight, unit, motion, overload, underload) and
answers each command line exactly as the real protocol does::

    with NciSimulator(weight=Decimal("1.20"), unit="lb") as sim:
        scale = NciScale.open(sim.path)      # any serial_for_url client works
        sim.state.motion = True              # the next readings report motion
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import ClassVar, Self

import attrs

from postroom.hal.ptyport import PtyPort
from postroom.hal.scales.nci import NciStatus
from postroom.hal.tcpport import TcpPort


@attrs.define
class ScaleState:
    weight: Decimal = Decimal("0.00")
    unit: str = "lb"
    motion: bool = False  # in motion until set back to False
    settle_after: int = 0  # report motion for this many more weighings, then settle
    tare: Decimal = Decimal("0")  # taken by a tare command; readings are net of it
    overload: bool = False
    underload: bool = False
    silent: bool = False  # answer nothing (a cable pulled out)
    commands: list[bytes] = attrs.field(factory=list)  # every command received


class LineSimulator:
    """Reads command lines on a pty and answers them; subclasses speak the protocol."""

    default_unit: ClassVar[str] = "lb"

    def __init__(
        self, weight: Decimal | str = "0.00", unit: str | None = None, **state: object
    ) -> None:
        self.state = ScaleState(Decimal(weight), unit or self.default_unit, **state)  # type: ignore[arg-type]
        self.lock = threading.Lock()
        self._port: PtyPort | TcpPort | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- protocol ---------------------------------------------------------------------------

    def answer(self, command: bytes) -> bytes:
        raise NotImplementedError

    def _weighing_in_motion(self) -> bool:
        if self.state.settle_after > 0:
            self.state.settle_after -= 1
            return True
        return self.state.motion

    # -- serving ----------------------------------------------------------------------------

    @property
    def path(self) -> str:
        if self._port is None:
            raise RuntimeError("the simulator is not running")
        path: str = self._port.path
        return path

    def start(self, tcp_port: int | None = None, host: str = "127.0.0.1") -> str:
        """Serve from a thread on a new pty, or on TCP when ``tcp_port`` is given (0: any
        free port); return what clients open (a pty path or ``socket://host:port``)."""
        self._port = PtyPort.open() if tcp_port is None else TcpPort.listen(host, tcp_port)
        self._thread = threading.Thread(target=self._serve, name="scale-simulator", daemon=True)
        self._thread.start()
        return self.path

    def serve_forever(self) -> None:
        """Serve until interrupted or stopped (``postroom scale simulate``)."""
        if self._thread is None:
            self.start()
        if self._thread is not None:
            try:
                while self._thread.is_alive():
                    self._thread.join(0.5)
            finally:
                self.stop()

    def _serve(self) -> None:
        port = self._port
        if port is None:
            return
        buffer = b""
        while not self._stop.is_set():
            buffer += port.read(256)
            while True:
                cut = min(
                    (i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0), default=-1
                )
                if cut < 0:
                    break
                line, buffer = buffer[:cut].strip(), buffer[cut + 1 :]
                if not line:
                    continue
                with self.lock:
                    self.state.commands.append(line)
                    reply = b"" if self.state.silent else self.answer(line)
                if reply:
                    port.write(reply)

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


class NciSimulator(LineSimulator):
    """An NCI (Weigh-Tronix SCP-01) scale: ``W``, ``S`` and ``Z`` commands."""

    default_unit = "lb"

    def _status(self, motion: bool) -> bytes:
        state = self.state
        status: bytes = NciStatus(
            motion=motion,
            at_zero=state.weight == 0 and not motion,
            over_capacity=state.overload,
            under_capacity=state.underload,
        ).encode()
        return status

    def answer(self, command: bytes) -> bytes:
        verb = command.upper()
        if verb == b"W":
            motion = self._weighing_in_motion()
            status = self._status(motion)
            if self.state.overload or self.state.underload:
                return b"\n" + status + b"\r\x03"
            text = format(self.state.weight, "f").zfill(7) + self.state.unit
            return b"\n" + text.encode() + b"\r\n" + status + b"\r\x03"
        if verb == b"S":
            return b"\n" + self._status(self.state.motion) + b"\r\x03"
        if verb == b"Z":
            if not (self.state.motion or self.state.overload or self.state.underload):
                self.state.weight = Decimal(0).quantize(self.state.weight)
            return b"\n" + self._status(self.state.motion) + b"\r\x03"
        return b"\n?\r\x03"


class SicsSimulator(LineSimulator):
    """A Mettler-Toledo MT-SICS balance: ``S``, ``SI`` and ``Z`` (level 0), ``T`` (tare)."""

    default_unit = "g"

    def _weight_line(self, stable: bool) -> bytes:
        text = format(self.state.weight - self.state.tare, "f")
        return f"S {'S' if stable else 'D'} {text:>10} {self.state.unit}\r\n".encode()

    def answer(self, command: bytes) -> bytes:
        verb = command.strip()
        state = self.state
        if verb in (b"S", b"SI"):
            if state.overload:
                return b"S +\r\n"
            if state.underload:
                return b"S -\r\n"
            if verb == b"S":
                if state.motion:
                    return b"S I\r\n"  # stability not reached within the balance's timeout
                state.settle_after = 0  # the balance waited until it settled
                return self._weight_line(True)
            return self._weight_line(not self._weighing_in_motion())
        if verb == b"Z":
            if state.motion:
                return b"Z I\r\n"
            if state.overload:
                return b"Z +\r\n"
            if state.underload:
                return b"Z -\r\n"
            state.weight = Decimal(0).quantize(state.weight)
            state.tare = Decimal(0)
            return b"Z A\r\n"
        if verb == b"T":
            if state.motion:
                return b"T I\r\n"
            if state.overload:
                return b"T +\r\n"
            state.tare = state.weight
            return f"T S {format(state.tare, 'f'):>10} {state.unit}\r\n".encode()
        if verb.isascii() and verb.isalnum():
            return b"ES\r\n"
        return b"ET\r\n"
