"""Rate limits on the JSON API (issue 11, item 7): per API key and per client address,
429 ``rate_limited`` with ``Retry-After``; the counters in Redis when it is configured."""

from __future__ import annotations

import socket
import uuid

import attrs
import pytest
from flask import Flask

from postroom.core.app import Postroom
from postroom.core.errors import ConfigurationError
from postroom.frontends.web import create_app

BALANCE = "/api/v1/vault/transfers"


def _app(postroom: Postroom, **limits: str) -> Flask:
    postroom.config = attrs.evolve(postroom.config, **limits)
    return create_app({"TESTING": True}, postroom=postroom)


def _key(postroom: Postroom, name: str) -> dict[str, str]:
    account = postroom.accounts.create(name, "US", "USD")
    token = postroom.accounts.create_api_key(account.number).token
    return {"Authorization": f"Bearer {token}"}


def test_a_key_past_its_limit_gets_429_with_retry_after(postroom: Postroom) -> None:
    client = _app(postroom, api_rate_limit_per_key="3/minute").test_client()
    alice, bob = _key(postroom, "Alice Mailroom"), _key(postroom, "Bob Mailroom")
    for _ in range(3):
        assert client.get(BALANCE, headers=alice).status_code == 200
    refused = client.get(BALANCE, headers=alice)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    # another key from the same address has its own count
    assert client.get(BALANCE, headers=bob).status_code == 200


def test_an_address_past_its_limit_gets_429_whatever_key_it_sends(postroom: Postroom) -> None:
    client = _app(postroom, api_rate_limit_per_address="4/minute").test_client()
    guesses = [{"Authorization": f"Bearer prk_{uuid.uuid4().hex[:12]}_x"} for _ in range(4)]
    for guess in guesses:  # guessing keys is counted per address
        assert client.get(BALANCE, headers=guess).status_code == 401
    assert client.get(BALANCE, headers=_key(postroom, "Real")).status_code == 429
    assert client.get("/api/v1/version").status_code == 429  # public routes too
    other = client.get(BALANCE, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401  # another address is not held back


def test_pages_outside_the_api_are_not_counted(postroom: Postroom) -> None:
    client = _app(postroom, api_rate_limit_per_address="1/minute").test_client()
    for _ in range(3):
        assert client.get("/rates/price").status_code == 200
        assert client.get("/kiosk/price").status_code == 200
    assert client.get("/api/v1/version").status_code == 200


def test_the_429_is_in_the_openapi_document_of_every_operation(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    limited = document["components"]["responses"]["RateLimited"]
    assert "Retry-After" in limited["headers"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"]["429"] == {
                "$ref": "#/components/responses/RateLimited"
            }, f"{method} {path}"


def test_a_malformed_limit_is_a_configuration_error(postroom: Postroom) -> None:
    with pytest.raises(ConfigurationError, match="api_rate_limit_per_key"):
        _app(postroom, api_rate_limit_per_key="lots")


def _redis() -> str:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/15"


def test_with_redis_every_server_process_counts_together(postroom: Postroom) -> None:
    url = _redis()
    key = _key(postroom, f"Shared {uuid.uuid4().hex[:6]}")
    # two apps stand for two `postroom serve` processes behind one proxy
    first = _app(postroom, redis_url=url, api_rate_limit_per_key="3/minute").test_client()
    second = create_app({"TESTING": True}, postroom=postroom).test_client()
    assert first.get(BALANCE, headers=key).status_code == 200
    assert second.get(BALANCE, headers=key).status_code == 200
    assert first.get(BALANCE, headers=key).status_code == 200
    assert second.get(BALANCE, headers=key).status_code == 429


def test_an_unreachable_redis_does_not_break_the_api(postroom: Postroom) -> None:
    # nothing listens on port 9: the limits are counted in the process meanwhile
    client = _app(postroom, redis_url="redis://127.0.0.1:9/0", api_rate_limit_per_key="2/minute")
    key = _key(postroom, "Offline Redis")
    answers = [client.test_client().get(BALANCE, headers=key).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
