from pathlib import Path

import pytest

from postroom.core.config import Config
from postroom.core.errors import ConfigurationError


def test_environment_overrides_defaults_and_explicit_values_override_environment():
    env = {"POSTROOM_DATABASE_URL": "sqlite:///env.db", "POSTROOM_LOG_LEVEL": "debug"}
    assert Config.load(env).database_url == "sqlite:///env.db"
    assert Config.load(env).log_level == "DEBUG"
    assert Config.load(env, database_url="sqlite:///arg.db").database_url == "sqlite:///arg.db"


def test_default_database_is_sqlite_in_the_data_directory():
    config = Config.load({"POSTROOM_DATA_DIR": "/srv/postroom"})
    assert config.resolved_database_url == "sqlite:////srv/postroom/postroom.db"
    assert config.data_dir == Path("/srv/postroom")


def test_plugin_allowlist_is_a_comma_separated_list():
    assert Config.load({"POSTROOM_PLUGINS": "usps, sandbox_card,"}).plugins == (
        "usps",
        "sandbox_card",
    )
    assert Config.load({}).plugins is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"POSTROOM_ENV": "staging"}, "invalid setting"),
        ({"POSTROOM_LOG_LEVEL": "loud"}, "invalid setting"),
        ({"POSTROOM_DEFAULT_LOCALE": "de"}, "invalid setting"),
        ({"POSTROOM_SMTP_SECURITY": "ssl"}, "invalid setting"),
        ({"POSTROOM_SMTP_PORT": "70000"}, "smtp_port"),
        ({"POSTROOM_SMTP_TIMEOUT": "0"}, "smtp_timeout"),
        ({"POSTROOM_MAIL_FROM": "postroom"}, "mail_from"),
        ({"POSTROOM_MAIL_FROM": "a@b.example\r\nBcc: c@d.example"}, "mail_from"),
    ],
)
def test_invalid_settings_are_configuration_errors(env, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        Config.load(env)
    assert caught.value.code == "configuration_error"


def test_unknown_setting_is_refused():
    with pytest.raises(ConfigurationError, match="unknown setting"):
        Config.load({}, colour="blue")


def test_production_without_a_secret_is_an_error():
    config = Config.load({"POSTROOM_ENV": "production"})
    with pytest.raises(ConfigurationError, match="POSTROOM_SECRET_KEY"):
        config.resolved_secret_key()


def test_an_explicit_secret_is_used_as_given():
    config = Config.load({"POSTROOM_ENV": "production", "POSTROOM_SECRET_KEY": "s3cret"})
    assert config.resolved_secret_key() == "s3cret"


def test_production_without_a_ledger_key_is_an_error_with_its_code():
    config = Config.load({"POSTROOM_ENV": "production", "POSTROOM_SECRET_KEY": "s3cret"})
    with pytest.raises(ConfigurationError, match="POSTROOM_LEDGER_KEY") as caught:
        config.resolved_ledger_key()
    assert caught.value.code == "ledger_key_missing"


def test_the_ledger_key_comes_from_the_environment():
    key = "k" * 40
    config = Config.load({"POSTROOM_ENV": "production", "POSTROOM_LEDGER_KEY": key})
    assert config.resolved_ledger_key() == key
    assert key not in repr(config)


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, True),
        ({"POSTROOM_ALLOW_SANDBOX_PAYMENTS": "1"}, True),
        ({"POSTROOM_ENV": "production"}, False),
        ({"POSTROOM_ENV": "production", "POSTROOM_ALLOW_SANDBOX_PAYMENTS": "0"}, False),
        ({"POSTROOM_ENV": "production", "POSTROOM_ALLOW_SANDBOX_PAYMENTS": "1"}, True),
        ({"POSTROOM_ENV": "production", "POSTROOM_ALLOW_SANDBOX_PAYMENTS": "yes"}, True),
    ],
)
def test_sandbox_payments_serve_production_only_when_explicitly_allowed(env, allowed):
    assert Config.load(env).sandbox_payments_allowed is allowed


def test_a_garbled_sandbox_switch_is_an_error_not_a_yes():
    with pytest.raises(ConfigurationError, match="yes/no"):
        Config.load({"POSTROOM_ALLOW_SANDBOX_PAYMENTS": "maybe"})


def test_the_smtp_settings_come_from_the_environment_with_the_usual_ports():
    env = {
        "POSTROOM_SMTP_HOST": "mail.example.net",
        "POSTROOM_SMTP_SECURITY": "tls",
        "POSTROOM_SMTP_USERNAME": "mailer",
        "POSTROOM_SMTP_PASSWORD": "s3cret",
        "POSTROOM_MAIL_FROM": "Acme Postage <postage@acme.example>",
    }
    config = Config.load(env)
    assert (config.smtp_host, config.smtp_resolved_port) == ("mail.example.net", 465)
    assert "s3cret" not in repr(config)
    assert Config.load({}).smtp_resolved_port == 587  # starttls by default
    assert Config.load({"POSTROOM_SMTP_SECURITY": "none"}).smtp_resolved_port == 25
    assert Config.load({"POSTROOM_SMTP_PORT": "2525"}).smtp_resolved_port == 2525


def test_a_login_over_plain_smtp_is_refused_except_to_a_loopback_server():
    plain = {"POSTROOM_SMTP_SECURITY": "none", "POSTROOM_SMTP_USERNAME": "mailer"}
    with pytest.raises(ConfigurationError, match="in clear"):
        Config.load({**plain, "POSTROOM_SMTP_HOST": "mail.example.net"})
    assert Config.load({**plain, "POSTROOM_SMTP_HOST": "127.0.0.1"}).smtp_username == "mailer"
