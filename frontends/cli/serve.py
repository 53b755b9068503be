"""``postroom serve``: the portal and API on a production WSGI server (waitress)."""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
from collections.abc import Iterator
from typing import Any

import click
from waitress.server import create_server

from postroom.core.app import Postroom
from postroom.core.demo import demo_kiosk, load_demo
from postroom.core.errors import ConfigurationError
from postroom.frontends.cli.state import CliState, pass_state
from postroom.frontends.observability import configure_logging, watch_jobs
from postroom.frontends.web import create_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="POSTROOM_HOST")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), envvar="POSTROOM_PORT"
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--demo", is_flag=True, help="Load demo data and run a background worker in this process."
)
@pass_state
def serve(state: CliState, host: str, port: int, threads: int, demo: bool) -> None:
    """Serve the portal and the JSON API."""
    postroom = state.postroom()
    configure_logging(postroom.config.log_level)
    app = create_app(postroom=postroom)
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
            server.close()


@contextlib.contextmanager
def _demo_worker(postroom: Postroom, facts: dict[str, str]) -> Iterator[None]:
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
