"""Customer accounts and API keys on a real database."""

from __future__ import annotations

import pytest

from postroom.core.accounts.model import AccountStatus, is_valid_account_number
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, Unauthenticated, ValidationError


def test_create_list_get(pr: Postroom, clock: FrozenClock) -> None:
    account = pr.accounts.create("  Acme   Mailroom ", "us", "usd")
    assert is_valid_account_number(account.number)
    assert (account.name, account.country, account.currency) == ("Acme Mailroom", "US", "USD")
    assert account.status is AccountStatus.ACTIVE
    assert account.created_at.replace(tzinfo=None) == clock.now().replace(tzinfo=None)
    other = pr.accounts.create("Other", "FR", "EUR")
    assert [a.number for a in pr.accounts.list()] == [account.number, other.number]
    assert pr.accounts.get(account.number).name == "Acme Mailroom"


@pytest.mark.parametrize(
    ("name", "country", "currency", "code"),
    [
        ("", "US", "USD", "invalid_name"),
        ("Acme", "XX", "USD", "unknown_country"),
        ("Acme", "US", "ABC", "unknown_currency"),
    ],
)
def test_create_refuses_bad_input(
    pr: Postroom, name: str, country: str, currency: str, code: str
) -> None:
    with pytest.raises(ValidationError) as error:
        pr.accounts.create(name, country, currency)
    assert error.value.code == code
    assert pr.accounts.list() == []


def test_unknown_and_malformed_numbers(pr: Postroom) -> None:
    with pytest.raises(ValidationError):
        pr.accounts.get("1234567890")  # bad check digit
    with pytest.raises(NotFound):
        pr.accounts.get("1234567897")


def test_api_key_lifecycle(pr: Postroom) -> None:
    account = pr.accounts.create("Acme", "US", "USD")
    issued = pr.accounts.create_api_key(account.number, "shipping robot")
    assert issued.token.startswith(f"prk_{issued.key.prefix}_")
    assert pr.accounts.authenticate(issued.token).number == account.number
    keys = pr.accounts.api_keys(account.number)
    assert [k.prefix for k in keys] == [issued.key.prefix]
    assert issued.token not in repr(issued)
    with pytest.raises(Unauthenticated) as wrong:
        pr.accounts.authenticate(issued.token[:-2] + "xx")
    assert wrong.value.code == "invalid_api_key"
    with pytest.raises(Unauthenticated):
        pr.accounts.authenticate("garbage")
    revoked = pr.accounts.revoke_api_key(issued.key.prefix)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthenticated) as gone:
        pr.accounts.authenticate(issued.token)
    assert gone.value.code == "api_key_revoked"


def test_the_secret_is_stored_hashed(pr: Postroom) -> None:
    account = pr.accounts.create("Acme", "US", "USD")
    issued = pr.accounts.create_api_key(account.number)
    secret = issued.token.split("_", 2)[2]
    with pr.db.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT secret_hash FROM api_keys").scalar_one()
    assert secret not in stored
    assert len(stored) == 64
