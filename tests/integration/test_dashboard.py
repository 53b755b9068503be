"""/dashboard through the test client with CSRF on, on the real database: what a signed-in
customer sees of its postage funds, meters and payment methods, in English and French,
and that it never sees another account's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.money import Money

PASSWORD = "correct horse battery staple"


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def person(postroom: Postroom, number: str, email: str, role: str = "owner") -> None:
    """A verified portal user of customer account ``number``."""
    link = postroom.identity.invite(number, email, role)
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+1 202 555 0143",
        language="en",
    )


def sign_in(client: FlaskClient, email: str) -> None:
    token = csrf(client.get("/account/sign-in").text)
    response = client.post(
        "/account/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard"


def funded_customer(postroom: Postroom, name: str, serial: str, deposit: str) -> str:
    """A customer account with a deposit, a meter refilled from it and a card."""
    number = postroom.accounts.create(name, "US", "USD").number
    postroom.funding.manual_deposit(
        number, Money.parse(deposit), f"dep-{serial}", staff="Sue", reason="opening balance"
    )
    postroom.meters.register(number, product_code="PR-VPSD1", serial=serial)
    postroom.meters.funds.refill(serial, Money.parse("25.00 USD"), f"refill-{serial}")
    postroom.funding.add_instrument(
        number,
        "sandbox-card",
        {"number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123"},
    )
    return number


def test_a_visitor_is_sent_to_sign_in_and_back(client: FlaskClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sign-in?next=/dashboard"


def test_an_owner_sees_the_accounts_funds_meters_and_payment_methods(
    client: FlaskClient, postroom: Postroom
) -> None:
    number = funded_customer(postroom, "Acme Mail", "PR-DASH-0001", "500.00 USD")
    person(postroom, number, "ann@example.com")
    sign_in(client, "ann@example.com")
    page = client.get("/dashboard").text
    assert "$475.00" in page  # 500.00 deposited, 25.00 loaded into the meter
    assert "Funds added to the postage account" in page
    assert "Postage loaded into meter PR-DASH-0001" in page
    assert "$500.00" in page
    assert "$25.00" in page
    meter = postroom.meters.get("PR-DASH-0001")
    assert meter.inspection_due_at is not None
    assert f"{meter.inspection_due_at:%B} {meter.inspection_due_at.day}, " in page
    assert "Never" in page  # the meter has not synced yet
    assert "4242" in page
    for slot in ("Support cases", "Invoices", "Orders", "Shipments"):
        assert f">{slot}</h2>" in page
    assert "will be listed here" in page
    assert 'href="/products"' in page
    menu = page.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
    groups = re.findall(r"<summary>([^<]+)</summary>", menu)
    assert groups == ["Postage", "Billing and shop", "Support", "Account"]
    assert 'href="/account/users"' in menu  # people and API keys: for owners and admins


def test_an_operator_sees_the_dashboard_without_the_owners_links(
    client: FlaskClient, postroom: Postroom
) -> None:
    number = postroom.accounts.create("Acme Mail", "US", "USD").number
    person(postroom, number, "olivia@example.com")
    person(postroom, number, "otto@example.com", role="user")
    sign_in(client, "otto@example.com")
    page = client.get("/dashboard").text
    assert "$0.00" in page  # no postage account opened yet: nothing to spend
    assert "No meter is registered to your account." in page
    assert 'href="/products/register"' not in page  # registering is for owners and admins
    assert 'href="/account/users"' not in page
    assert "<summary>Account</summary>" in page


def test_another_accounts_data_is_never_shown(client: FlaskClient, postroom: Postroom) -> None:
    mine = funded_customer(postroom, "Acme Mail", "PR-MINE-0001", "120.00 USD")
    theirs = funded_customer(postroom, "Other Mail", "PR-THEIRS-01", "9876.00 USD")
    person(postroom, mine, "ann@example.com")
    person(postroom, theirs, "bob@example.com")
    sign_in(client, "ann@example.com")
    page = client.get("/dashboard").text
    assert "PR-MINE-0001" in page
    assert "Acme Mail" in page
    assert "PR-THEIRS-01" not in page
    assert "Other Mail" not in page
    assert "9,876.00" not in page
    assert "9,851.00" not in page
    assert theirs not in page


def test_the_dashboard_in_french_with_french_dates_and_money(
    client: FlaskClient, postroom: Postroom, clock: FrozenClock
) -> None:
    number = funded_customer(postroom, "Acme Mail", "PR-DASH-0001", "1234.50 USD")
    person(postroom, number, "ann@example.com")
    sign_in(client, "ann@example.com")
    token = csrf(client.get("/dashboard").text)
    client.post("/language", data={"csrf_token": token, "lang": "fr", "next": "/dashboard"})
    page = client.get("/dashboard").text
    assert '<html lang="fr">' in page
    assert "Tableau de bord" in page
    assert "1\u202f209,50\xa0$US" in page or "1\xa0209,50\xa0$US" in page
    assert "Fonds ajoutés au compte d\u2019affranchissement" in page
    assert "Jamais" in page
    assert "<summary>Facturation et boutique</summary>" in page
    months = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
    due = postroom.meters.get("PR-DASH-0001").inspection_due_at
    assert due is not None
    assert f"{due.day} {months.split()[due.month - 1]} {due.year}" in page


def test_staff_go_to_the_support_console(client: FlaskClient, postroom: Postroom) -> None:
    invited = postroom.identity.invite_staff("sam@vendor.example", "agent")
    postroom.identity.accept_invitation(
        invited.token,
        name="Sam Staff",
        password=PASSWORD,
        security_question="Q?",
        security_answer="A",
        phone="+1 202 555 0143",
        language="en",
    )
    token = csrf(client.get("/account/sign-in").text)
    client.post(
        "/account/sign-in",
        data={"csrf_token": token, "email": "sam@vendor.example", "password": PASSWORD},
    )
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console"
    menu = client.get("/account/profile").text.split('<nav class="main-nav"', 1)[1]
    assert "<summary>Console</summary>" in menu.split("</nav>", 1)[0]
    assert 'href="/console"' in menu
    assert 'href="/dashboard"' not in menu.split("</nav>", 1)[0]  # no customer account


def test_the_last_five_refills_newest_first_with_their_meter(
    postroom: Postroom, clock: FrozenClock
) -> None:
    number = postroom.accounts.create("Acme Mail", "US", "USD").number
    postroom.meters.register(number, product_code="PR-VPSD1", serial="PR-DASH-0001")
    for n in range(1, 7):
        clock.advance(timedelta(hours=1))
        postroom.funding.manual_deposit(
            number, Money(n * 1000, "USD"), f"dep-{n}", staff="Sue", reason="a top-up by hand"
        )
    clock.advance(timedelta(hours=1))
    postroom.meters.funds.refill("PR-DASH-0001", Money.parse("2.50 USD"), "refill-1")
    overview = postroom.ledger.postage_overview(number)
    assert [(r.amount, r.meter) for r in overview.refills] == [
        (Money.parse("2.50 USD"), "PR-DASH-0001"),
        (Money.parse("6.00 USD"), None),
        (Money.parse("5.00 USD"), None),
        (Money.parse("4.00 USD"), None),
        (Money.parse("3.00 USD"), None),
    ]
    assert overview.available_mills == 21000 - 2500


def test_times_are_shown_in_the_persons_time_zone(
    client: FlaskClient, postroom: Postroom, clock: FrozenClock
) -> None:
    """A refill at 15:30 UTC in December reads 10:30 AM for a US phone's New York, and
    16:30 once the person chooses Paris on the profile page."""
    clock.set(datetime(2026, 12, 2, 15, 30, tzinfo=UTC))
    number = funded_customer(postroom, "Acme Mail", "PR-DASH-0001", "100.00 USD")
    person(postroom, number, "ann@example.com")  # phone +1 202...: America/New_York
    sign_in(client, "ann@example.com")
    page = client.get("/dashboard").text
    assert "10:30\u202fAM" in page or "10:30 AM" in page
    profile = client.get("/account/profile").text
    assert '<option selected value="America/New_York">' in profile
    answer = client.post(
        "/account/profile",
        data={
            "csrf_token": csrf(profile),
            "name": "Ann",
            "phone": "+1 202 555 0143",
            "language": "en",
            "time_zone": "Europe/Paris",
        },
    )
    assert answer.status_code == 303
    assert "4:30\u202fPM" in client.get("/dashboard").text
    wrong = client.post(
        "/account/profile",
        data={
            "csrf_token": csrf(profile),
            "name": "Ann",
            "phone": "+1 202 555 0143",
            "language": "en",
            "time_zone": "Mars/Olympus_Mons",
        },
    )
    assert wrong.status_code == 200
    assert "Choose a time zone from the list." in wrong.text
    assert postroom.identity.users(number)[0].time_zone == "Europe/Paris"
