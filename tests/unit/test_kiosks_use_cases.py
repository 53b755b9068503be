"""The kiosks use cases on in-memory fakes (no I/O): a terminal's key is issued, listed
with its last contact, revoked, and refused once revoked; another account's key is not
found; a terminal is offered only what its account can print."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kiosks_fakes import (
    FakeAccounts,
    FakeDatabase,
    FakeKioskKeys,
    FakePrices,
    account,
    priced,
)

from postroom.core.accounts.model import AccountStatus
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, Unauthenticated, ValidationError
from postroom.core.kiosks.service import KiosksService
from postroom.core.rates.model import Piece
from postroom.core.rates.service import Refusal
from postroom.core.units import Dimensions, Weight

MINE = "1000000009"
OTHER = "2000000008"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-12-02T09:30:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts({MINE: account(MINE), OTHER: account(OTHER, "FR", "EUR")})


@pytest.fixture
def prices() -> FakePrices:
    return FakePrices(
        [
            priced("laposte", "lettre-verte", 1_390, "EUR"),
            priced("usps", "priority-mail", 9_850, "USD"),
            priced("usps", "first-class-letter", 730, "USD"),
        ]
    )


@pytest.fixture
def kiosks(
    db: FakeDatabase, clock: FrozenClock, accounts: FakeAccounts, prices: FakePrices
) -> KiosksService:
    return KiosksService(
        db, clock, accounts=accounts, prices=prices, repository=lambda _s: FakeKioskKeys(db)
    )


def test_an_issued_key_authenticates_its_terminal_and_records_the_contact(
    kiosks: KiosksService, clock: FrozenClock
) -> None:
    issued = kiosks.issue_key(MINE, "  Mailroom,   2nd floor ")
    assert issued.token.startswith(f"prt_{issued.key.prefix}_")
    assert issued.key.label == "Mailroom, 2nd floor"
    assert issued.key.last_contact_at is None

    clock.advance(timedelta(minutes=5))
    key = kiosks.authenticate(issued.token)
    assert key.customer_number == MINE
    [listed] = kiosks.keys(MINE)
    assert listed.last_contact_at == clock.now()
    assert kiosks.keys(OTHER) == []


def test_the_token_is_never_stored(kiosks: KiosksService, db: FakeDatabase) -> None:
    issued = kiosks.issue_key(MINE, "Front desk")
    _key, secret_hash = db.state.keys[issued.key.prefix]
    assert issued.token.split("_", 2)[2] not in secret_hash
    assert len(secret_hash) == 64


def test_contact_is_written_at_most_once_a_minute(
    kiosks: KiosksService, db: FakeDatabase, clock: FrozenClock
) -> None:
    issued = kiosks.issue_key(MINE, "Front desk")
    kiosks.authenticate(issued.token)
    writes = db.state.writes
    clock.advance(timedelta(seconds=30))
    kiosks.authenticate(issued.token)
    assert db.state.writes == writes
    clock.advance(timedelta(seconds=30))
    kiosks.authenticate(issued.token)
    assert db.state.writes == writes + 1


def test_a_revoked_key_is_refused(kiosks: KiosksService, clock: FrozenClock) -> None:
    issued = kiosks.issue_key(MINE, "Front desk")
    revoked = kiosks.revoke_key(MINE, issued.key.prefix)
    assert revoked.revoked_at == clock.now()
    with pytest.raises(Unauthenticated) as refused:
        kiosks.authenticate(issued.token)
    assert refused.value.code == "kiosk_key_revoked"
    # revoking again changes nothing; the whole token names the key too
    clock.advance(timedelta(hours=1))
    assert kiosks.revoke_key(MINE, issued.token).revoked_at == revoked.revoked_at


def test_another_accounts_key_is_not_found_and_stays_active(kiosks: KiosksService) -> None:
    theirs = kiosks.issue_key(OTHER, "Paris office")
    with pytest.raises(NotFound) as missing:
        kiosks.revoke_key(MINE, theirs.key.prefix)
    assert missing.value.code == "kiosk_key_not_found"
    assert kiosks.authenticate(theirs.token).customer_number == OTHER


@pytest.mark.parametrize(
    "token",
    ["", "prt_", "prt_abc_def", "prk_0123456789ab_secret", "prt_0123456789ab_", "x" * 300],
)
def test_malformed_or_unknown_tokens_are_refused(kiosks: KiosksService, token: str) -> None:
    kiosks.issue_key(MINE, "Front desk")
    with pytest.raises(Unauthenticated) as refused:
        kiosks.authenticate(token)
    assert refused.value.code == "invalid_kiosk_key"


def test_a_wrong_secret_is_refused(kiosks: KiosksService) -> None:
    issued = kiosks.issue_key(MINE, "Front desk")
    with pytest.raises(Unauthenticated) as refused:
        kiosks.authenticate(issued.token[:-2] + "zz")
    assert refused.value.code == "invalid_kiosk_key"


def test_a_closed_accounts_key_is_refused(kiosks: KiosksService, accounts: FakeAccounts) -> None:
    issued = kiosks.issue_key(MINE, "Front desk")
    accounts.accounts[MINE].status = AccountStatus.CLOSED
    with pytest.raises(Unauthenticated) as refused:
        kiosks.authenticate(issued.token)
    assert refused.value.code == "account_inactive"


@pytest.mark.parametrize("label", ["", "   ", "x" * 101, "bad\x00label"])
def test_a_bad_label_writes_nothing(kiosks: KiosksService, db: FakeDatabase, label: str) -> None:
    with pytest.raises(ValidationError):
        kiosks.issue_key(MINE, label)
    assert db.state.keys == {}


def test_an_unknown_account_gets_no_key(kiosks: KiosksService, db: FakeDatabase) -> None:
    with pytest.raises(NotFound):
        kiosks.issue_key("3000000007", "Front desk")
    assert db.state.keys == {}


@pytest.mark.parametrize("prefix", ["", "zz", "0123456789ab0", "ZZZZZZZZZZZZ"])
def test_a_bad_prefix_is_a_validation_error(kiosks: KiosksService, prefix: str) -> None:
    with pytest.raises(ValidationError) as refused:
        kiosks.revoke_key(MINE, prefix)
    assert refused.value.code == "invalid_kiosk_key_prefix"


def test_a_us_terminal_is_offered_only_dollar_services_cheapest_first(
    kiosks: KiosksService, prices: FakePrices, clock: FrozenClock
) -> None:
    # the issue's bug: a US kiosk offered La Poste "Lettre verte" priced in EUR
    offers = kiosks.offers(MINE, Piece(Weight.of(1, "oz")), ["certified"])
    assert offers.currency == "USD"
    assert [o.table.service for o in offers.options] == ["first-class-letter", "priority-mail"]
    assert prices.asked[-1][1:] == (("certified",), clock.now().date())


def test_a_french_terminal_is_offered_only_euro_services(kiosks: KiosksService) -> None:
    offers = kiosks.offers(OTHER, Piece(Weight.of(20, "g")))
    assert [(o.table.carrier, o.total.currency) for o in offers.options] == [("laposte", "EUR")]


def test_a_parcel_is_priced_on_parcel_tables_and_the_too_big_ones_say_why(
    kiosks: KiosksService, prices: FakePrices
) -> None:
    prices.refused = [
        Refusal("usps", "ground", "over_limit", "length over the maximum of 22 in", "USD"),
        Refusal("laposte", "colissimo", "over_limit", "too long", "EUR"),  # not the account's
        Refusal("usps", "old", "no_rate_table", "not in force", "USD"),  # nothing to act on
    ]
    parcel = Piece(Weight.of(2, "lb"), Dimensions.of(30, 20, 10, "in"))
    offers = kiosks.offers(MINE, parcel, shape="parcel")
    assert prices.shapes_asked[-1] == ("parcel",)
    assert prices.asked[-1][0] == parcel  # priced with its size
    assert [(r.service, r.code) for r in offers.refused] == [("ground", "over_limit")]


def test_a_letter_is_priced_on_letter_tables_only(
    kiosks: KiosksService, prices: FakePrices
) -> None:
    kiosks.offers(MINE, Piece(Weight.of(1, "oz")), shape="letter")
    kiosks.offers(MINE, Piece(Weight.of(1, "oz")))  # the API without a shape: every table
    assert prices.shapes_asked[-2:] == [("letter",), None]


@pytest.mark.parametrize(
    ("shape", "piece", "code"),
    [
        ("parcel", Piece(Weight.of(2, "lb")), "dimensions_required"),
        ("large_envelope", Piece(Weight.of(2, "oz")), "dimensions_required"),
        ("box", Piece(Weight.of(2, "oz")), "invalid_shape"),
    ],
)
def test_a_shape_without_its_size_or_unknown_is_refused(
    kiosks: KiosksService, prices: FakePrices, shape: str, piece: Piece, code: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        kiosks.offers(MINE, piece, shape=shape)
    assert refused.value.code == code
    assert prices.asked == []
