"""``postroom serve``: the portal and API on a production WSGI server (waitress), in one
process or several that share the listening socket."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import click
from waitress.server import create_server

from postroom.core.app import Postroom
from postroom.core.demo import demo_kiosk, load_demo
from postroom.core.errors import ConfigurationError
from postroom.frontends.cli.state import CliState, pass_state
from postroom.frontends.observability import configure_logging, watch_jobs
from postroom.frontends.web import create_app

log = logging.getLogger("postroom.serve")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="POSTROOM_HOST")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), envvar="POSTROOM_PORT"
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    envvar="POSTROOM_PROCESSES",
    help="Server processes sharing the port (POSIX), each with --threads threads: one per "
    "CPU uses every core. Set POSTROOM_REDIS_URL so that rate limits count across them.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Load demo data and run a background worker (in this process; with --processes, "
    "in a process of its own beside the servers).",
)
@pass_state
def serve(state: CliState, host: str, port: int, threads: int, processes: int, demo: bool) -> None:
    """Serve the portal and the JSON API."""
    postroom = state.postroom()
    configure_logging(postroom.config.log_level)
    if processes > 1:
        _serve_in_processes(state, host, port, threads, processes, demo)
        return
    app = create_app(_web_settings(threads), postroom=postroom)
    try:
        server = create_server(app, host=host, port=port, threads=threads)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {port} on {host} is already in use", code="port_in_use"
            ) from error
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    facts: dict[str, str] = {}
    with _demo_worker(postroom, facts) if demo else contextlib.nullcontext():
        if demo:
            click.echo(f"demo data loaded into {postroom.db.display_url}")
            for name, value in facts.items():  # only on the first load: shown once
                click.echo(f"{name}: {value}")
        click.echo(f"postroom {postroom.version} serving on http://{host}:{port}/ (Ctrl+C stops)")
        try:
            server.run()
        except KeyboardInterrupt:
            click.echo("stopped")
        finally:
            app.extensions["chat_streams"].stop()
            server.close()


def _web_settings(threads: int) -> dict[str, int]:
    # live chats' event streams wait on at most half the threads: the rest serve pages
    return {"CHAT_WAITING_STREAMS": threads // 2}


def _listen(host: str, port: int) -> socket.socket:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(info[0], socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(info[4])
        listener.listen(1024)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {port} on {host} is already in use", code="port_in_use"
            ) from error
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error}") from error
    return listener


def _serve_in_processes(
    state: CliState, host: str, port: int, threads: int, processes: int, demo: bool
) -> None:
    """A parent that binds the port, forks ``processes`` servers that accept on it (and,
    for the demo, a process for the background worker), starts a new one when one dies,
    and stops them all on SIGTERM or Ctrl+C.

    Nothing open crosses a fork: the parent migrates (and loads the demo), closes its
    database, and never opens it again; each child opens its own connections. (A fork
    from a process whose threads use SQLite copies its connections' locks as they were,
    and the child waits for them forever.)"""
    if not hasattr(os, "fork"):
        raise ConfigurationError(
            "--processes needs a POSIX system (fork); use one process", code="processes_unsupported"
        )
    listener = _listen(host, port)
    facts: dict[str, str] = {}
    if demo:
        load_demo(state.postroom(), facts=facts)
        demo_kiosk(state.postroom())
    version = state.postroom().version
    state.close()
    children: dict[int, str] = {}

    def start(role: str) -> None:
        pid = (
            _fork_worker(state, listener)
            if role == "worker"
            else _fork_server(state, listener, threads)
        )
        children[pid] = role
        log.info("%s process %s started", role, pid)

    for _ in range(processes):
        start("server")
    if demo:
        start("worker")
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name, value in facts.items():
        click.echo(f"{name}: {value}")
    click.echo(
        f"postroom {version} serving on http://{host}:{port}/ with {processes} processes "
        "(Ctrl+C stops)"
    )
    quick_deaths = 0
    while children:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        role = children.pop(pid, None)
        if stopping or role is None:
            continue
        # a child that keeps dying at once (a broken configuration) is not restarted
        quick_deaths = quick_deaths + 1 if _recent(pid) else 0
        if quick_deaths >= 5:
            log.error("%s processes keep dying at start; stopping", role)
            stop(signal.SIGTERM, None)
            continue
        log.warning("%s process %s ended; starting another", role, pid)
        start(role)
    listener.close()
    click.echo("stopped")


_started: dict[int, float] = {}


def _recent(pid: int) -> bool:
    return time.monotonic() - _started.pop(pid, 0.0) < 2.0


def _fork_server(state: CliState, listener: socket.socket, threads: int) -> int:
    def serve() -> None:
        app = create_app(_web_settings(threads), postroom=state.postroom())
        server = create_server(app, sockets=[listener], threads=threads)
        try:
            server.run()
        finally:
            app.extensions["chat_streams"].stop()
            server.close()

    return _fork("server", serve)


def _fork_worker(state: CliState, listener: socket.socket) -> int:
    """The demo's background worker in a process of its own, until SIGTERM."""

    def work() -> None:
        listener.close()  # the servers' socket: the port closes with the last server
        with _demo_worker(state.postroom(), {}, load=False):
            while True:
                signal.pause()  # SIGTERM ends it (SystemExit), the worker stopped on the way

    return _fork("worker", work)


_STOPPING = {signal.SIGTERM, signal.SIGINT}


def _fork(role: str, run: Callable[[], None]) -> int:
    """A child process that runs ``run`` until SIGTERM; its pid. SIGTERM and SIGINT are
    held back across the fork until the child has its own handlers: a SIGTERM that came
    first would otherwise run the parent's handler in the child, and the child, never
    told to stop, would outlive its parent's wait."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        _started[pid] = time.monotonic()
        return pid
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us, with SIGTERM
        signal.signal(signal.SIGTERM, _exit_on_term)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        run()
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else 0
    except BaseException:
        log.exception("%s process failed", role)
        code = 1
    finally:
        os._exit(code)  # never run the parent's clean-up or atexit in a child


@contextlib.contextmanager
def _demo_worker(postroom: Postroom, facts: dict[str, str], *, load: bool = True) -> Iterator[None]:
    if load:
        load_demo(postroom, facts=facts)
        demo_kiosk(postroom)
    watch_jobs(postroom.jobs.huey)
    consumer = postroom.jobs.huey.create_consumer(workers=1, worker_type="thread", periodic=True)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    consumer.start()
    # The consumer installs its own signal handlers; the server's process keeps ours.
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        yield
    finally:
        consumer.stop(graceful=True)


def _exit_on_term(_signum: int, _frame: Any) -> None:
    sys.exit(0)
