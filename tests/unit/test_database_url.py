import pytest

from postroom.core.db import describe_url, parse_database_url
from postroom.core.errors import ConfigurationError


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
