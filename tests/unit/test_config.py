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
