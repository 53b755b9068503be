"""Server-sent events that do not pin a server thread: each response waits a bounded
time for news and ends at the first one (the browser reconnects by itself, sending the
last event's id), and only a few responses of a process wait at once — the others look
once and end, so that the browser's reconnections poll instead. However many chats are
open, the server's other threads stay free for the pages and the API."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

_EVENT_ID = re.compile(r"(\d{1,11})(?:\.([0-9a-f]{12}))?")


class WaitGate:
    """At most ``capacity`` responses of this process waiting for news at once."""

    def __init__(self, capacity: int) -> None:
        self._slots = threading.Semaphore(max(0, capacity))
        self._stopping = threading.Event()

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` between two looks at the store; False once the server stops."""
        return not self._stopping.wait(seconds)

    def stop(self) -> None:
        """The server is stopping: waiting responses end at once."""
        self._stopping.set()

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """Whether this response may wait (a slot was free); the slot is given back
        when the response ends, the client gone included."""
        taken = self._slots.acquire(blocking=False)
        try:
            yield taken
        finally:
            if taken:
                self._slots.release()


def mark(state: dict[str, Any]) -> str:
    """A short fingerprint of a conversation's state, carried in the event id, so that
    a reconnection tells what its client has already seen."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def event_id(last_message: int, state: dict[str, Any]) -> str:
    return f"{last_message}.{mark(state)}"


def parse_event_id(value: str | None) -> tuple[int, str] | None:
    """``(last message id, state mark)`` of a ``Last-Event-ID``, or None if it is not one."""
    found = _EVENT_ID.fullmatch(value or "")
    if found is None:
        return None
    return int(found.group(1)), found.group(2) or ""
