"""The outbox's deliveries in a process of their own (``postroom mail serve``).

The inbound SMTP server takes email in one Python process, whose threads share one
interpreter lock: building the acknowledgements' MIME and sending them over SMTP took a
sixth of it, time the batches of incoming email waited for. Here that work runs in a
child process: the server hands over the messages it claimed and committed
(``Outbox.hand_over``) through a pipe, and the child delivers them in batches with a
``BackgroundSender`` of its own, over its own connections, and records the outcomes.

Nothing is lost if the child dies: a handed-over message is still claimed in the
outbox, and the worker's ``outbox.deliver`` sends it once the claim's lease runs out.
A child found dead is started again at the next hand-over.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.errors import ConfigurationError
from postroom.core.outbox import OutboxMessage

log = logging.getLogger(__name__)

_READY, _FAILED, _DRAIN, _DRAINED, _STOP = "ready", "failed", "drain", "drained", "stop"


def _deliver(config: Config, requests: Connection, replies: Connection) -> None:
    """The child: open the site as configured and deliver what comes through
    ``requests`` until told to stop (or the parent is gone)."""
    # the parent stops it (Ctrl+C and SIGTERM reach the whole process group): what was
    # handed over is still sent before it ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        pr = Postroom.open(config=config)
    except Exception as error:
        replies.send((_FAILED, f"{type(error).__name__}: {error}"))
        return
    with pr, pr.outbox.background_sender() as sender:
        replies.send((_READY, ""))
        while True:
            try:
                request = requests.recv()
            except EOFError:  # the parent is gone: send what was handed over, and end
                break
            if request == _STOP:
                break
            if request == _DRAIN:
                sender.drain()
                replies.send((_DRAINED, ""))
            else:
                sender.hand_over(request)


class DeliveryProcess:
    """``Handover`` to a child process that delivers (see the module)."""

    START_SECONDS = 60.0

    def __init__(self, config: Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._process: Any = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id; None when none runs."""
        return None if self._process is None else int(self._process.pid)

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        # spawned, not forked: the parent has threads and open connections
        context = multiprocessing.get_context("spawn")
        requests_out, requests_in = context.Pipe(duplex=False)
        replies_out, replies_in = context.Pipe(duplex=False)
        process = context.Process(
            target=_deliver,
            args=(self._config, requests_out, replies_in),
            name="postroom-delivery",
            daemon=True,
        )
        process.start()
        requests_out.close()
        replies_in.close()
        if not replies_out.poll(self.START_SECONDS):
            process.kill()
            raise ConfigurationError("the delivery process did not start", code="delivery_failed")
        try:
            state, detail = replies_out.recv()
        except EOFError:
            state, detail = _FAILED, f"it ended with exit code {process.exitcode}"
        if state != _READY:
            process.join()
            raise ConfigurationError(
                f"the delivery process did not start: {detail}", code="delivery_failed"
            )
        self._process, self._requests, self._replies = process, requests_in, replies_out

    def ended(self, timeout: float | None = None) -> bool:
        """Whether the child has ended (waiting up to ``timeout`` seconds for it)."""
        process = self._process
        if process is None:
            return True
        process.join(timeout)
        return not process.is_alive()

    def hand_over(self, messages: Sequence[OutboxMessage]) -> None:
        batch = list(messages)
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._restart()
            assert self._requests is not None
            try:
                self._requests.send(batch)
            except OSError:  # it died since: to another one
                self._restart()
                self._requests.send(batch)

    def _restart(self) -> None:
        log.warning("the delivery process is gone: starting another one")
        self._close()
        self._start()

    def drain(self) -> None:
        """Wait until everything handed over so far was tried (by a child that lived:
        what a child that died had not sent is left to the worker, see the module)."""
        with self._lock:
            if self._requests is None or self._replies is None:
                return
            try:
                self._requests.send(_DRAIN)
                state, _detail = self._replies.recv()
            except (OSError, EOFError):
                log.warning("the delivery process died before it was drained")
                return
            assert state == _DRAINED

    def stop(self) -> None:
        """Send what is left, then end the child."""
        with self._lock:
            if self._requests is not None:
                with contextlib.suppress(OSError):  # already gone
                    self._requests.send(_STOP)
            if self._process is not None:
                self._process.join()
            self._close()

    def _close(self) -> None:
        for end in (self._requests, self._replies):
            if end is not None:
                end.close()
        self._process = self._requests = self._replies = None


@contextmanager
def delivery_process(pr: Postroom) -> Iterator[DeliveryProcess]:
    """For the block, what ``pr``'s outbox is handed goes to a delivery process; at the
    end of the block what is left is sent, then the process ends."""
    process = DeliveryProcess(pr.config)
    process.start()
    try:
        with pr.outbox.handing_over_to(process):
            yield process
    finally:
        process.stop()
