"""A carrier's API on loopback for the adapters' tests: a real HTTP server that answers
each request path with the documents a test queued for it (status, headers, body),
in order, and records every request it got. Nothing of postroom is replaced."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs

DOCUMENTS = Path(__file__).resolve().parent.parent / "data" / "carriers"


def document(name: str) -> bytes:
    return (DOCUMENTS / name).read_bytes()


@attrs.frozen
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)
    #: seconds to wait before answering (longer than the client's timeout: a timeout)
    delay: float = 0.0


@attrs.frozen
class Received:
    """One request: its header names in lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class CarrierServer:
    url: str = ""
    replies: dict[str, deque[Reply]] = attrs.field(factory=lambda: defaultdict(deque))
    received: list[Received] = attrs.field(factory=list)
    release: threading.Event = attrs.field(factory=threading.Event)

    def queue(self, path: str, *replies: Reply) -> None:
        self.replies[path].extend(replies)

    def paths(self) -> list[str]:
        return [r.path.split("?")[0] for r in self.received]


@contextmanager
def carrier_server() -> Iterator[CarrierServer]:
    state = CarrierServer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.received.append(Received(self.command, self.path, headers, body))
            queued = state.replies.get(self.path.split("?")[0])
            reply = queued.popleft() if queued else Reply(599, b"no reply queued")
            if reply.delay:
                state.release.wait(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
