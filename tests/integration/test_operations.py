"""What an operator watches: request ids and access-log lines, job lines, and /metrics,
which only loopback clients (straight, not through a proxy) or a token holder may read."""

from __future__ import annotations

import json
import logging
import sys

import attrs
import pytest
from flask import Flask

from postroom.core.app import Postroom
from postroom.frontends.observability import JOBS, JsonLines, watch_jobs
from postroom.frontends.web import create_app

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict[str, object]]:
    formatter = JsonLines()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == logger]


def test_every_answer_names_its_request_and_logs_one_json_line(client, caplog):
    with caplog.at_level(logging.INFO, logger="postroom.access"):
        answer = client.get("/rates/price")
    request_id = answer.headers["X-Request-ID"]
    assert len(request_id) == 32
    [line] = _lines(caplog, "postroom.access")
    assert line["request_id"] == request_id
    assert (line["method"], line["path"], line["status"]) == ("GET", "/rates/price", 200)
    assert line["endpoint"] == "/rates/price"
    assert line["level"] == "INFO"
    assert str(line["time"]).endswith("+00:00")


def test_a_proxys_request_id_is_kept_and_a_hostile_one_replaced(client):
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a9c21"})
    assert kept.headers["X-Request-ID"] == "edge-7f3a9c21"
    hostile = '"><script>alert(1)</script>'
    replaced = client.get("/healthz", headers={"X-Request-ID": hostile})
    assert replaced.headers["X-Request-ID"] != hostile
    assert len(replaced.headers["X-Request-ID"]) == 32


def test_a_traceback_stays_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    text = JsonLines().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["error"]


def test_loopback_reads_the_metrics_of_requests_the_ledger_and_the_syncs(client, postroom):
    customer = postroom.accounts.create("Acme Mailroom", "US", "USD")
    postroom.ledger.open_postage_account(customer.number)
    client.get("/rates/price")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert 'postroom_http_requests_total{endpoint="/rates/price",method="GET",status="200"}' in (
        text
    )
    assert "postroom_ledger_transfers_total " in text
    assert 'postroom_meter_syncs_total{state="finished"} 0.0' in text


def test_the_world_and_a_proxied_client_do_not_see_the_metrics(client):
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert proxied.status_code == 404


def test_a_remote_client_with_the_metrics_token_reads_them(postroom: Postroom, config):
    postroom.config = attrs.evolve(config, metrics_token="m-token-0123456789")
    app: Flask = create_app({"TESTING": True}, postroom=postroom)
    client = app.test_client()
    good = {"Authorization": "Bearer m-token-0123456789"}
    assert client.get("/metrics", environ_base=REMOTE, headers=good).status_code == 200
    bad = {"Authorization": "Bearer m-token-0123456780"}
    assert client.get("/metrics", environ_base=REMOTE, headers=bad).status_code == 404


def test_each_job_is_counted_and_logged_with_its_id(postroom, caplog):
    watch_jobs(postroom.jobs.huey)
    name = "vault.check-postage-account"
    before = JOBS.labels(name, "ok")._value.get()
    customer = postroom.accounts.create("Acme Mailroom", "US", "USD")
    account = postroom.ledger.open_postage_account(customer.number)
    with caplog.at_level(logging.DEBUG, logger="postroom.jobs"):
        postroom.jobs.enqueue(name, account.id)
    assert JOBS.labels(name, "ok")._value.get() == before + 1
    [line] = _lines(caplog, "postroom.jobs")
    assert (line["job"], line["outcome"]) == (name, "ok")
    assert line["job_id"]
