import sys

import pytest

from postroom.core.db import create_engine, describe_url, parse_database_url
from postroom.core.errors import ConfigurationError
from postroom.core.jobs import make_huey


def test_postgresql_urls_use_psycopg_3():
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_database_url("postgres://u@h/db").drivername == "postgresql+psycopg"


def test_password_is_hidden_in_messages():
    url = parse_database_url("postgresql://user:hunter2@db.example/postroom")
    assert "hunter2" not in describe_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "malformed database URL"),
        ("mysql://u@h/db", "unsupported database"),
        ("postgresql://u@h", "names no database"),
        ("", "malformed database URL"),
    ],
)
def test_unusable_urls_are_refused_clearly(url, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_database_url(url)


def test_postgresql_without_its_driver_says_which_extra_to_install(monkeypatch):
    # the driver is the `postgres` extra; a missing module imports as None here
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigurationError) as caught:
        create_engine("postgresql://postroom@db.example/postroom")
    assert caught.value.code == "driver_missing"
    assert "postroom[postgres]" in caught.value.message


def test_redis_without_its_client_says_which_extra_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError) as caught:
        make_huey("redis://127.0.0.1:6379/0", tmp_path)
    assert caught.value.code == "driver_missing"
    assert "postroom[redis]" in caught.value.message
