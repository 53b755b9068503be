"""``/healthz`` answers only its status to the world (issue 11, item 6): the version,
plugins, database kind and worker heartbeat go to a loopback client that came straight
to postroom, or to one with the configured token; forwarding headers are not trusted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.frontends.web import create_app

TOKEN = "health-token-for-the-monitoring-system"
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}
DETAILS = {"version", "database", "worker", "plugins"}


@pytest.fixture
def with_token(database_url, data_dir, clock) -> Iterator[FlaskClient]:
    config = Config.load(
        {}, data_dir=data_dir, database_url=database_url, secret_key="x", health_token=TOKEN
    )
    with Postroom.open(config=config, clock=clock, migrate_schema=True) as pr:
        yield create_app({"TESTING": True}, postroom=pr).test_client()


def _get(client: FlaskClient, **kwargs) -> dict:
    response = client.get("/healthz", **kwargs)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def test_the_world_sees_only_the_status(client):
    assert _get(client, environ_base=REMOTE) == {"status": "ok"}
    assert _get(client, environ_base={"REMOTE_ADDR": "10.1.2.3"}) == {"status": "ok"}


def test_a_loopback_client_sees_the_details(client):
    for address in ("127.0.0.1", "::1"):
        body = _get(client, environ_base={"REMOTE_ADDR": address})
        assert set(body) >= DETAILS, address


def test_forwarding_headers_neither_grant_nor_keep_loopback(client):
    # A client abroad claims to be local; and a local proxy forwards a client abroad.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        claimed = _get(client, environ_base=REMOTE, headers={header: "127.0.0.1"})
        assert claimed == {"status": "ok"}, header
        proxied = _get(
            client, environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={header: "203.0.113.9"}
        )
        assert proxied == {"status": "ok"}, header


def test_the_configured_token_shows_the_details_to_a_remote_client(with_token):
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert set(_get(with_token, environ_base=REMOTE, headers=good)) >= DETAILS
    assert (
        set(
            _get(
                with_token, environ_base=REMOTE, headers={**good, "X-Forwarded-For": "198.51.100.1"}
            )
        )
        >= DETAILS
    )
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN):
        body = _get(with_token, environ_base=REMOTE, headers={"Authorization": wrong})
        assert body == {"status": "ok"}, wrong


def test_without_a_configured_token_no_bearer_shows_the_details(client):
    for token in ("", "None", "null"):
        body = _get(client, environ_base=REMOTE, headers={"Authorization": f"Bearer {token}"})
        assert body == {"status": "ok"}


def test_a_failing_database_tells_the_world_only_fail(tmp_path, clock):
    config = Config.load({}, data_dir=tmp_path, secret_key="x")
    with Postroom.open(config=config, clock=clock) as pr:
        client = create_app({"TESTING": True}, postroom=pr).test_client()
        pr.db.dispose()
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"postroom.db{suffix}").unlink(missing_ok=True)
        (tmp_path / "postroom.db").write_bytes(b"garbage" * 1000)
        response = client.get("/healthz", environ_base=REMOTE)
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail"}
