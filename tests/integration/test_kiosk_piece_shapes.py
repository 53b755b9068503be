"""The terminal's letter / large envelope / parcel choice (issue 18, item 4): a large
envelope or a parcel is measured (length x width x height, in the account's unit), priced
on the rate tables of its shape with its size, and a service it is too big for is not
offered, with the reason shown; batch mode keeps the size; the API answers the same."""

from __future__ import annotations

import re

import pytest
from test_kiosk_terminal import Screen, _csrf, _terminal

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.frontends.kiosk.local import LocalDataCenter

#: Made-up prices (no carrier's): a flat and a parcel service, measured in inches.
BOXPOST = """
format = "postroom-rates/1"
carrier = "boxpost"
currency = "USD"
effective_from = 2020-01-01

[source]
document = "postroom test fixture (not real prices)"
url = "https://example.invalid/boxpost"

[[services]]
code = "flat"
name = "Boxpost large envelope"
shape = "flat"
max_weight = "13 oz"
max_dimensions = "15 x 12 x 0.75 in"
steps = { step = "1 oz", first = "1.50", additional = "0.25" }

[[services]]
code = "small-box"
name = "Boxpost small box"
shape = "parcel"
max_weight = "5 lb"
max_dimensions = "12 x 10 x 6 in"
steps = { step = "1 lb", first = "6.00", additional = "1.00" }

[[services]]
code = "big-box"
name = "Boxpost big box"
shape = "parcel"
max_weight = "20 lb"
max_dimensions = "24 x 18 x 18 in"
steps = { step = "1 lb", first = "9.00", additional = "1.50" }
"""


@pytest.fixture
def screen(postroom: Postroom, kiosk_account: CustomerAccount) -> Screen:
    postroom.rates.import_file(BOXPOST, "boxpost.toml")
    return Screen(
        _terminal(LocalDataCenter(postroom, kiosk_account.number, "Mailroom")).test_client()
    )


def _measured(screen: Screen, shape: str, sides: tuple[str, str, str], weight: str, unit: str):
    page = screen.get(f"/weigh?shape={shape}&length={sides[0]}&width={sides[1]}&height={sides[2]}")
    return screen.post(
        "/offers",
        page,
        source="keyed",
        weight=weight,
        unit=unit,
        shape=shape,
        length=sides[0],
        width=sides[1],
        height=sides[2],
    )


def test_a_parcel_is_measured_in_inches_and_priced_on_parcel_services(
    screen: Screen, operator: KioskOperator
) -> None:
    screen.sign_in(operator.id)
    step = screen.get("/weigh?shape=parcel")
    assert 'id="size-next"' in step
    assert "Measure the piece (in)" in step
    assert 'id="show-services"' not in step  # measured first, then weighed
    offers = _measured(screen, "parcel", ("11", "8", "4"), "2", "lb")
    assert offers.status_code == 200
    page = offers.get_data(as_text=True)
    assert "Parcel, 11 x 8 x 4 in, 32.00 oz, cheapest first." in page
    names = re.findall(r'class="offer-name">([^<]+)<', page)
    assert names == ["Boxpost small box", "Boxpost big box"]  # cheapest first; no letter
    assert "$7.00" in page
    assert 'id="refused-' not in page


def test_a_parcel_too_big_for_a_service_is_not_offered_it_and_says_why(
    screen: Screen, operator: KioskOperator
) -> None:
    screen.sign_in(operator.id)
    page = _measured(screen, "parcel", ("16", "8", "4"), "2", "lb").get_data(as_text=True)
    assert re.findall(r'class="offer-name">([^<]+)<', page) == ["Boxpost big box"]
    assert "Boxpost small box: the length is over its maximum of 12 in." in page
    # the print form names the size: printing the small box anyway is refused, uncharged
    form = Screen.print_form(page, 0, service="small-box")
    answer = screen.client.post("/print", data={"csrf_token": _csrf(page), **form})
    assert answer.status_code == 422
    assert "This service cannot print this piece" in answer.get_data(as_text=True)


def test_a_large_envelope_prints_with_its_size_once(
    screen: Screen, postroom: Postroom, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    screen.sign_in(operator.id)
    page = _measured(screen, "large_envelope", ("12", "9", "0.5"), "3", "oz").get_data(as_text=True)
    assert re.findall(r'class="offer-name">([^<]+)<', page) == ["Boxpost large envelope"]
    form = Screen.print_form(page, 0)
    assert (form["shape"], form["length"], form["height"]) == ("large_envelope", "12", "0.5")
    before = postroom.ledger.balance(kiosk_account.number).balances.available
    for _ in range(2):  # a double touch prints once
        answer = screen.client.post("/print", data={"csrf_token": _csrf(page), **form})
        assert answer.status_code == 303, answer.get_data(as_text=True)
    spent = before - postroom.ledger.balance(kiosk_account.number).balances.available
    assert spent == 2000  # 1.50 + 2 x 0.25


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("shape=parcel&length=11&width=0&height=4", "Enter the length, width and height"),
        ("shape=parcel&length=x&width=8&height=4", "Enter the length, width and height"),
        ("shape=box", None),  # an unknown shape is a letter's screen
    ],
)
def test_bad_sizes_are_form_errors(
    screen: Screen, operator: KioskOperator, query: str, message: str | None
) -> None:
    screen.sign_in(operator.id)
    answer = screen.client.get(f"/weigh?{query}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    if message:
        assert message in page
        assert 'id="size-next"' in page
    else:
        assert 'id="show-services"' in page
        assert 'aria-current="true"><span>Letter' in page


def test_a_batch_of_parcels_keeps_their_size_and_a_stack_of_letters_stays_one_touch(
    screen: Screen, operator: KioskOperator
) -> None:
    screen.sign_in(operator.id)
    page = _measured(screen, "parcel", ("11", "8", "4"), "2", "lb").get_data(as_text=True)
    assert "Start a batch of pieces of this size with this service" in page
    started = screen.client.post(
        "/batch", data={"csrf_token": _csrf(page), **Screen.print_form(page, 0)}
    )
    assert started.status_code == 303
    batch = screen.get("/batch")
    assert "Batch of pieces" in batch
    assert "Parcel, 11 x 8 x 4 in" in batch
    added = screen.post("/batch/pieces", batch, source="keyed", weight="7", unit="lb")
    # 7 lb: over the small box's 5 lb: the piece is refused, the batch keeps its one
    assert added.status_code == 422
    assert "print it apart" in added.get_data(as_text=True)
    letters = screen.offers("1", "oz").get_data(as_text=True)
    assert "Start a batch of letters with this service" in letters
    assert "Boxpost" not in letters  # a letter is priced on letter services only


def test_the_french_screen_measures_in_centimetres(
    postroom: Postroom, operator: KioskOperator
) -> None:
    account = postroom.accounts.create("Courrier SA", "FR", "EUR")
    chloe = postroom.accounts.add_operator(account.number, "Chloé", "135792")
    screen = Screen(_terminal(LocalDataCenter(postroom, account.number, "Courrier")).test_client())
    page = screen.get("/sign-in")
    screen.post("/language", page, lang="fr", next="/sign-in")
    screen.sign_in(chloe.id, "135792")
    step = screen.get("/weigh?shape=large_envelope")
    assert "Mesurez le pli (cm)" in step
    assert "Grande enveloppe" in step
    assert 'data-key=","' in step


def test_the_api_answers_the_shape_and_the_refusals(
    postroom: Postroom, kiosk_account: CustomerAccount
) -> None:
    from postroom.frontends.web import create_app

    postroom.rates.import_file(BOXPOST, "boxpost.toml")
    token = postroom.kiosks.issue_key(kiosk_account.number, "Mailroom").token
    client = create_app(postroom=postroom).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"weight": {"value": "2", "unit": "lb"}, "shape": "parcel", "dimensions": "16x8x4in"}
    answer = client.post("/api/v1/kiosk/offers", json=body, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    assert [o["table"]["service"] for o in data["options"]] == ["big-box"]
    assert [(r["service"], r["code"], r["limit"]) for r in data["refused"]] == [
        ("small-box", "over_limit", "12 in")
    ]
    unmeasured = {key: value for key, value in body.items() if key != "dimensions"}
    missing = client.post("/api/v1/kiosk/offers", json=unmeasured, headers=headers)
    assert missing.status_code == 422
    assert missing.get_json()["error"]["code"] == "dimensions_required"
    wrong = client.post("/api/v1/kiosk/offers", json={**body, "shape": "box"}, headers=headers)
    assert wrong.status_code in (400, 422)
