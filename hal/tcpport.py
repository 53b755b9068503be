"""The device end of a TCP connection, for simulators serving ``socket://host:port``.

``TcpPort.listen()`` binds a listening socket; one client at a time connects with
``serial.serial_for_url("socket://host:port")``. The object looks like a pyserial port
to the simulator (``read``, ``write``, ``in_waiting``, ``timeout``, ``close``): reads
return nothing while no client is connected, and a client that hangs up is replaced by
the next one.
"""

from __future__ import annotations

import contextlib
import select
import socket


class TcpPort:
    def __init__(self, listener: socket.socket, timeout: float = 0.05) -> None:
        self._listener = listener
        self._conn: socket.socket | None = None
        self.timeout: float | None = timeout
        host, port = listener.getsockname()[:2]
        self.host, self.port = str(host), int(port)
        self.url = f"socket://{self.host}:{self.port}"
        self.path = self.url  # what clients open, as for a pty
        self.closed = False

    @classmethod
    def listen(cls, host: str = "127.0.0.1", port: int = 0, timeout: float = 0.05) -> TcpPort:
        listener = socket.create_server((host, port), reuse_port=False)
        listener.setblocking(False)
        return cls(listener, timeout)

    @property
    def in_waiting(self) -> int:
        return 0

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def read(self, size: int = 1) -> bytes:
        if self.closed:
            return b""
        try:
            if self._conn is None:
                ready, _, _ = select.select([self._listener], [], [], self.timeout)
                if not ready:
                    return b""
                self._conn, _ = self._listener.accept()
                self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ready, _, _ = select.select([self._conn], [], [], self.timeout)
            if not ready:
                return b""
            data = self._conn.recv(max(size, 4096))
        except OSError:
            self._drop()
            return b""
        if not data:  # the client hung up
            self._drop()
        return data

    def write(self, data: bytes, /) -> int:
        if self._conn is None:
            return 0
        try:
            self._conn.sendall(data)
        except OSError:
            self._drop()
            return 0
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._drop()
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> TcpPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
