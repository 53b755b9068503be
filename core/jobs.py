"""Background work: a registry of tasks and periodic jobs, run by huey.

Areas and plugins add to the registry when postroom opens; ``postroom worker``
consumes them. The queue lives in a SQLite file in the data directory by
default and in Redis when POSTROOM_REDIS_URL is set, so several web processes
and workers share it. Every job must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.api import Result, TaskWrapper

from postroom.core.errors import ConfigurationError, NotFound, ValidationError
from postroom.core.files import private_sqlite

if TYPE_CHECKING:
    from postroom.core.app import Postroom

JobFunction = Callable[..., Any]


@attrs.frozen
class PeriodicJob:
    name: str
    description: str
    #: crontab fields, e.g. {"minute": "*/5"} or {"hour": "3", "minute": "0"}
    schedule: Mapping[str, str]
    run: Callable[[Postroom], Any]


@attrs.frozen
class Task:
    name: str
    description: str
    run: Callable[..., Any]
    retries: int = 3
    retry_delay: int = 60


@attrs.define
class JobRegistry:
    periodic: dict[str, PeriodicJob] = attrs.field(factory=dict)
    tasks: dict[str, Task] = attrs.field(factory=dict)

    def add_periodic(self, job: PeriodicJob) -> None:
        if job.name in self.periodic or job.name in self.tasks:
            raise ValidationError(f"job {job.name!r} is registered twice", code="duplicate_job")
        try:
            crontab(**job.schedule)  # refuse a malformed schedule now, not in the worker
        except (TypeError, ValueError) as error:
            raise ValidationError(
                f"job {job.name!r} has a malformed schedule: {error}", code="invalid_schedule"
            ) from error
        self.periodic[job.name] = job

    def add_task(self, task: Task) -> None:
        if task.name in self.periodic or task.name in self.tasks:
            raise ValidationError(f"job {task.name!r} is registered twice", code="duplicate_job")
        self.tasks[task.name] = task


def make_huey(redis_url: str | None, data_dir: Path, *, immediate: bool = False) -> Huey:
    if immediate:
        return Huey("postroom", immediate=True)
    if redis_url:
        try:
            import redis  # noqa: F401  (the Redis client is an extra: the default needs none)
        except ImportError as error:
            raise ConfigurationError(
                "POSTROOM_REDIS_URL needs the Redis client: pip install 'postroom[redis]'",
                code="driver_missing",
            ) from error
        return RedisHuey("postroom", url=redis_url)
    queue = data_dir / "jobs.db"
    private_sqlite(queue)  # 0600 before huey's SQLite creates it (core/files.py)
    return SqliteHuey("postroom", filename=str(queue))


class Jobs:
    """The registry bound to a queue: enqueue tasks, and what a worker consumes."""

    def __init__(self, registry: JobRegistry, huey: Huey, postroom: Postroom) -> None:
        self.registry = registry
        self.huey = huey
        self._wrappers: dict[str, TaskWrapper] = {}
        for job in registry.periodic.values():
            self._wrappers[job.name] = huey.periodic_task(crontab(**job.schedule), name=job.name)(
                _bind(job.run, postroom)
            )
        for task in registry.tasks.values():
            self._wrappers[task.name] = huey.task(
                name=task.name, retries=task.retries, retry_delay=task.retry_delay
            )(_bind(task.run, postroom))

    def enqueue(self, name: str, *args: Any, **kwargs: Any) -> Result | None:
        """Queue the task ``name``; in immediate mode it runs at once."""
        try:
            wrapper = self._wrappers[name]
        except KeyError:
            raise NotFound(f"no background job named {name!r}", code="unknown_job") from None
        result: Result | None = wrapper(*args, **kwargs)
        return result

    def run_now(self, name: str) -> Any:
        """Run a periodic job once in this process (for the CLI and tests)."""
        try:
            job = self.registry.periodic[name]
        except KeyError:
            raise NotFound(f"no periodic job named {name!r}", code="unknown_job") from None
        return self._wrappers[job.name].call_local()


def _bind(function: Callable[..., Any], postroom: Postroom) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        return function(postroom, *args, **kwargs)

    run.__name__ = getattr(function, "__name__", "job")
    return run
