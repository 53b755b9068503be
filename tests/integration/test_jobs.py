"""Background jobs through a real huey queue."""

import os
import threading
from datetime import timedelta

import pytest

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.hookspecs import hookimpl
from postroom.core.jobs import Task


class CountingJobs:
    def __init__(self) -> None:
        self.done: list[str] = []
        self.finished = threading.Event()

    @hookimpl
    def register_jobs(self, registry):
        registry.add_task(Task("test.record", "record a value", self.record))

    def record(self, postroom, value):
        self.done.append(value)
        self.finished.set()
        return value.upper()


def test_a_plugin_task_runs_in_a_worker_from_the_sqlite_queue(tmp_path, clock):
    plugin = CountingJobs()
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with Postroom.open(config=config, clock=clock, extra_plugins=[("counting", plugin)]) as pr:
        result = pr.jobs.enqueue("test.record", "parcel")
        assert plugin.done == []  # queued, not run in the caller
        consumer = pr.jobs.huey.create_consumer(workers=1, worker_type="thread", periodic=False)
        consumer.scheduler.start()
        for _, worker in consumer.worker_threads:
            worker.start()
        try:
            assert plugin.finished.wait(timeout=20)
            assert result.get(blocking=True, timeout=20) == "PARCEL"
        finally:
            consumer.stop(graceful=True)
    assert plugin.done == ["parcel"]
    assert (tmp_path / "jobs.db").exists()


def test_the_worker_heartbeat_shows_in_health(postroom, clock):
    assert postroom.health()["worker"] == {"status": "never_seen"}
    postroom.jobs.run_now("worker.heartbeat")
    assert postroom.health()["worker"]["status"] == "ok"
    clock.advance(timedelta(minutes=10))
    assert postroom.health()["worker"]["status"] == "stale"


REDIS_URL = os.environ.get("POSTROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _redis_or_skip():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL} (set POSTROOM_TEST_REDIS_URL)")
    return client


def test_with_a_redis_url_tasks_travel_through_redis(tmp_path, clock):
    redis_client = _redis_or_skip()
    redis_client.flushdb()
    plugin = CountingJobs()
    config = Config.load({}, data_dir=tmp_path, secret_key="x", redis_url=REDIS_URL)
    try:
        with Postroom.open(config=config, clock=clock, extra_plugins=[("counting", plugin)]) as pr:
            result = pr.jobs.enqueue("test.record", "letter")
            assert pr.jobs.huey.pending_count() == 1
            assert not (tmp_path / "jobs.db").exists()
            # A second process's worker would see the same queue: execute what is pending.
            [task] = pr.jobs.huey.pending()
            pr.jobs.huey.execute(task)
            assert result.get(blocking=True, timeout=10) == "LETTER"
        assert plugin.done == ["letter"]
    finally:
        redis_client.flushdb()
