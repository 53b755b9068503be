"""What operators watch: one JSON log line per request and per job, and Prometheus metrics.

The web app, ``postroom serve`` and ``postroom worker`` share this module. The counters
of this process (requests, jobs) live in ``REGISTRY``; the ledger's and the syncs' come
from the database at each scrape, so every process answers the same figures for them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from huey import Huey
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_EXECUTING
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from postroom.core.app import Postroom

#: The record attributes a log line carries when a caller set them (``extra=``).
LOG_FIELDS = (
    "request_id",
    "method",
    "path",
    "endpoint",
    "status",
    "duration_ms",
    "remote",
    "job",
    "job_id",
    "outcome",
)


class JsonLines(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, and the
    request's or job's fields; a traceback goes in ``error``, never across lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in LOG_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    """JSON lines on standard error at ``level``; huey's own line per job is silenced
    (ours is at DEBUG), its warnings and errors are kept."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("huey").setLevel(max(logging.WARNING, root.level))


REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "postroom_http_requests",
    "HTTP requests answered, by method, route and status",
    ["method", "endpoint", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "postroom_http_request_duration_seconds",
    "Time to answer an HTTP request, by route",
    ["endpoint"],
    registry=REGISTRY,
)
JOBS = Counter(
    "postroom_jobs",
    "Background jobs run, by job and outcome",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "postroom_job_duration_seconds", "Time a background job ran", ["job"], registry=REGISTRY
)

access_log = logging.getLogger("postroom.access")
job_log = logging.getLogger("postroom.jobs")


def request_answered(
    *,
    method: str,
    path: str,
    endpoint: str,
    status: int,
    seconds: float,
    request_id: str,
    remote: str | None,
) -> None:
    """Count and log one answered request (one line each, at INFO)."""
    REQUESTS.labels(method, endpoint, str(status)).inc()
    REQUEST_SECONDS.labels(endpoint).observe(seconds)
    access_log.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "request_id": request_id,
            "method": method,
            "path": path,
            "endpoint": endpoint,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "remote": remote,
        },
    )


def watch_jobs(huey: Huey) -> None:
    """Count and log every job ``huey`` runs in this process: a line at DEBUG when it
    completes, at ERROR when it fails."""
    started: dict[str, float] = {}

    def _executing(signal: str, task: Any) -> None:
        started[task.id] = time.perf_counter()

    def _finished(signal: str, task: Any, exc: BaseException | None = None) -> None:
        seconds = time.perf_counter() - started.pop(task.id, time.perf_counter())
        outcome = "ok" if signal == SIGNAL_COMPLETE else "error"
        JOBS.labels(task.name, outcome).inc()
        JOB_SECONDS.labels(task.name).observe(seconds)
        fields = {
            "job": task.name,
            "job_id": task.id,
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 3),
        }
        if exc is None:
            job_log.debug("job %s %s", task.name, outcome, extra=fields)
        else:
            job_log.error("job %s failed: %s", task.name, exc, extra=fields)

    huey.signal(SIGNAL_EXECUTING)(_executing)
    huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)(_finished)


class StoreCounters(Collector):
    """The ledger's rows and the meters' syncs, read from the database at each scrape."""

    def __init__(self, postroom: Postroom) -> None:
        self._postroom = postroom

    def collect(self) -> Iterator[Metric]:
        rows = CounterMetricFamily(
            "postroom_ledger_transfers", "Rows in the ledger's hash chain (transfers posted)"
        )
        rows.add_metric([], self._postroom.ledger.ledger_rows())
        yield rows
        finished, unfinished = self._postroom.meters.sync_counts()
        syncs = CounterMetricFamily(
            "postroom_meter_syncs", "Meter syncs with the data center, by outcome", labels=["state"]
        )
        syncs.add_metric(["finished"], finished)
        syncs.add_metric(["unfinished"], unfinished)
        yield syncs


def metrics_text(postroom: Postroom) -> bytes:
    """The Prometheus text exposition of this process's counters and the store's."""
    store = CollectorRegistry()
    store.register(StoreCounters(postroom))
    return generate_latest(REGISTRY) + generate_latest(store)


__all__ = [
    "REGISTRY",
    "JsonLines",
    "configure_logging",
    "metrics_text",
    "request_answered",
    "watch_jobs",
]
