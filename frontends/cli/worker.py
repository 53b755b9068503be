"""``postroom worker``: runs background tasks and periodic jobs."""

from __future__ import annotations

import click
from prometheus_client import start_http_server

from postroom.frontends.cli.state import CliState, pass_state
from postroom.frontends.observability import REGISTRY, configure_logging, watch_jobs


@click.command()
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--list", "list_jobs", is_flag=True, help="List the registered jobs and exit.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this worker's job metrics (Prometheus) on 127.0.0.1:PORT.",
)
@pass_state
def worker(state: CliState, workers: int, list_jobs: bool, metrics_port: int | None) -> None:
    """Consume the job queue (SQLite in the data directory, or Redis)."""
    postroom = state.postroom()
    registry = postroom.jobs.registry
    if list_jobs:
        for job in registry.periodic.values():
            schedule = " ".join(f"{k}={v}" for k, v in job.schedule.items())
            click.echo(f"{job.name}  [{schedule}]  {job.description}")
        for task in registry.tasks.values():
            click.echo(f"{task.name}  [task]  {task.description}")
        return
    configure_logging(postroom.config.log_level)
    watch_jobs(postroom.jobs.huey)
    if metrics_port is not None:
        # this process's job counters, for Prometheus, on loopback only
        start_http_server(metrics_port, addr="127.0.0.1", registry=REGISTRY)
    consumer = postroom.jobs.huey.create_consumer(
        workers=workers, worker_type="thread", periodic=True, check_worker_health=True
    )
    click.echo(
        f"postroom worker: {workers} worker thread(s), {len(registry.periodic)} periodic job(s), "
        f"{len(registry.tasks)} task type(s)"
    )
    consumer.run()
