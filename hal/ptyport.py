"""The device end of a pseudo-terminal, for simulators serving on a pty.

``PtyPort.open()`` creates a pty pair; clients open ``port.path`` (the slave side)
with ``serial.serial_for_url`` like any serial device, while the simulator reads
and writes the master side through this object, which looks like a pyserial port
(``read``, ``write``, ``in_waiting``, ``timeout``, ``close``).
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import tty


class PtyPort:
    def __init__(self, master: int, slave: int, timeout: float = 0.05) -> None:
        self.master = master
        self._slave = slave  # kept open so the master never sees a hang-up
        self.path = os.ttyname(slave)
        self.timeout: float | None = timeout
        self.closed = False
        # Raw descriptors, unlike socket objects, are numbers the process reuses once
        # closed: a read or write racing close() (a simulator thread outliving its stop's
        # join) would touch whatever file took the number, and two racing closes would
        # close it. The lock makes close wait for the read or write in progress.
        self._lock = threading.Lock()

    @classmethod
    def open(cls, timeout: float = 0.05) -> PtyPort:
        master, slave = os.openpty()
        tty.setraw(slave, termios.TCSANOW)  # no echo, no CR/LF translation
        return cls(master, slave, timeout)

    @property
    def in_waiting(self) -> int:
        return 0

    def read(self, size: int = 1) -> bytes:
        with self._lock:
            if self.closed:
                return b""
            try:
                ready, _, _ = select.select([self.master], [], [], self.timeout)
                if not ready:
                    return b""
                return os.read(self.master, max(size, 4096))
            except OSError:  # EIO while no client holds the slave
                return b""

    def write(self, data: bytes, /) -> int:
        with self._lock:
            if self.closed:
                return 0  # the line is cut: a reply after stop() goes nowhere
            view = memoryview(data)
            while view:
                written = os.write(self.master, view)
                view = view[written:]
        return len(data)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            for fd in (self.master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __enter__(self) -> PtyPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
