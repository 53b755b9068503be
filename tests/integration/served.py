"""A WSGI app on a real HTTP port for a test: waitress in a thread, as ``postroom serve``
runs it, stopped from inside its own loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from waitress import wasyncore
from waitress.server import create_server


@contextmanager
def served(app: Any, *, port: int = 0, threads: int = 2) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1 (``port`` 0: a free one) until the block ends; the
    port. The server's sockets are closed by its own loop (a thunk through waitress's
    trigger): closed from another thread, a socket the loop is waiting on fails its
    select() with EBADF."""
    server: Any = create_server(app, host="127.0.0.1", port=port, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=5)
        server.task_dispatcher.shutdown()
