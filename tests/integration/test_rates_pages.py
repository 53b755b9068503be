"""``/rates/price``: the portal's and kiosk's "price a piece" page."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _csrf(client: FlaskClient) -> str:
    page = client.get("/rates/price").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def _post(client: FlaskClient, **fields):
    data = {
        "csrf_token": _csrf(client),
        "service": "usps/first-class-letter",
        "weight": "1.2",
        "unit": "oz",
        "date": "2025-08-01",
        **fields,
    }
    return client.post("/rates/price", data=data)


def test_the_form_lists_services_extras_and_today(client: FlaskClient):
    response = client.get("/rates/price")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'value="usps/first-class-letter"' in page
    assert 'value="laposte/lettre-verte"' in page
    assert 'value="certified"' in page
    # the default date is today by the injectable clock (frozen at 2026-03-02)
    assert 'name="date" type="date" required value="2026-03-02"' in page
    assert 'href="/rates/price"' in page  # the nav link


def test_a_valid_piece_is_priced_line_by_line(client: FlaskClient):
    response = _post(client, extras=["certified"])
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<td class="amount total" id="quote-total">$6.33</td>' in page
    assert "Certified Mail" in page
    assert "Cheapest services for this piece" in page


def test_the_comparison_names_the_cheapest_service(client: FlaskClient):
    page = _post(client).get_data(as_text=True)
    assert '<td class="amount total" id="quote-total">$1.03</td>' in page
    assert 'class="cheapest"' in page
    assert "(cheapest)" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"weight": ""}, "weight", "Enter a weight greater than zero"),
        ({"weight": "abc"}, "weight", "Enter a weight greater than zero"),
        ({"weight": "0"}, "weight", "Enter a weight greater than zero"),
        ({"weight": "-3"}, "weight", "Enter a weight greater than zero"),
        ({"weight": "1e9"}, "weight", "Enter a weight greater than zero"),
        ({"weight": "9"}, "weight", "over a limit"),
        ({"unit": "stone"}, "weight", "Choose a unit"),
        ({"date": ""}, "date", "YYYY-MM-DD"),
        ({"date": "2025-02-30"}, "date", "YYYY-MM-DD"),
        ({"date": "1990-01-01"}, "date", "No price list"),
        ({"service": "fedex/overnight"}, "service", "Choose a service"),
        ({"service": ""}, "service", "Choose a service"),
        ({"extras": ["return-receipt"]}, "extras", "needs another one"),
        ({"extras": ["bogus"]}, "extras", "does not offer"),
        ({"from": "10001"}, "zip", "Enter both ZIP codes"),
        ({"from": "abc", "to": "xyz"}, "zip", "ZIP codes"),
    ],
)
def test_bad_input_is_a_form_error_next_to_its_field(client: FlaskClient, fields, field, message):
    response = _post(client, **fields)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', page)
    assert error is not None, page
    assert message in error.group(1)
    assert "quote-total" not in page


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, app):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/rates/price", data={"weight": "1"})
    assert response.status_code == 400


def test_the_page_speaks_french(client: FlaskClient):
    client.post(
        "/language", data={"lang": "fr", "next": "/rates/price", "csrf_token": _csrf(client)}
    )
    page = client.get("/rates/price").get_data(as_text=True)
    assert "Calculer un affranchissement" in page
    response = _post(client, weight="1,2")  # a decimal comma, as typed in French
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="quote-total">1,03\xa0$US</td>' in page
    # the breakdown's weights and amounts are French numbers too
    lines = page.split('class="quote-lines"')[1].split("</table>")[0]
    assert "1,2 oz facturé comme 2 oz: 0,74\xa0$US + 1 x 0,29\xa0$US" in lines
    assert not re.search(r"[0-9][.][0-9]", lines)
    bad = _post(client, weight="abc").get_data(as_text=True)
    assert "Saisissez un poids supérieur à zéro" in bad


def test_the_comparison_keeps_to_the_currency_of_the_quote(client: FlaskClient):
    page = _post(client, weight="25", unit="g").get_data(as_text=True)
    comparison = page.split('class="compare-table"', 1)[1]
    assert "$0.74" in comparison
    assert "CA$" not in comparison
    assert "€" not in comparison


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            name: st.text(max_size=20)
            | st.sampled_from(["usps/first-class-letter", "1.2", "oz", "2025-08-01", "10001"])
            for name in ["service", "weight", "unit", "date", "from", "to"]
        },
    ),
    extras=st.lists(st.text(max_size=20) | st.sampled_from(["certified", "return-receipt"])),
)
def test_no_form_input_makes_the_page_fail_with_a_500(client: FlaskClient, fields, extras):
    data = {"csrf_token": _csrf(client), "extras": extras, **fields}
    response = client.post("/rates/price", data=data)
    assert response.status_code in (200, 422)


def test_service_and_extra_names_are_french_on_the_french_page(client: FlaskClient):
    client.post(
        "/language", data={"lang": "fr", "next": "/rates/price", "csrf_token": _csrf(client)}
    )
    form = client.get("/rates/price").get_data(as_text=True)
    assert "Lettre First-Class Mail (affranchissement machine)" in form
    assert "Poste-lettres, format standard (timbre à l&#39;unité), jusqu&#39;à 50 g" in form
    assert "Avis de réception (papier)" in form
    page = _post(client, extras=["certified", "return-receipt"]).get_data(as_text=True)
    assert 'id="quote-total">10,73\xa0$US</td>' in page
    # the itemized lines name the service and the extras in French, with French numbers
    base = (
        "<td>Lettre First-Class Mail (affranchissement machine): 1,2 oz facturé comme 2 oz:"
        " 0,74\xa0$US + 1 x 0,29\xa0$US</td>"
    )
    assert base in page
    assert "<td>Certified Mail (envoi avec preuve de distribution)</td>" in page
    assert "<td>Avis de réception (papier)</td>" in page
    # in English the table's own names
    client.post(
        "/language", data={"lang": "en", "next": "/rates/price", "csrf_token": _csrf(client)}
    )
    english = _post(client, extras=["certified"]).get_data(as_text=True)
    assert "<td>Certified Mail</td>" in english
    assert "1.2 oz charged as 2 oz: $0.74 + 1 x $0.29</td>" in english
    assert "affranchissement machine" not in english


def test_every_field_error_is_shown_at_once_in_the_visitor_language(client: FlaskClient):
    fields = {"unit": "stone", "weight": "abc", "date": "2025-02-30", "from": "10001"}
    page = _post(client, **fields).get_data(as_text=True)
    errors = dict(re.findall(r'id="([a-z]+)-error" role="alert">([^<]*)</p>', page))
    assert set(errors) == {"weight", "date", "zip"}
    assert "Choose a unit" in errors["weight"]  # the unit is what to fix first
    assert "YYYY-MM-DD" in errors["date"]
    assert "Enter both ZIP codes" in errors["zip"]
    client.post(
        "/language", data={"lang": "fr", "next": "/rates/price", "csrf_token": _csrf(client)}
    )
    page = _post(client, **fields).get_data(as_text=True)
    french = dict(re.findall(r'id="([a-z]+)-error" role="alert">([^<]*)</p>', page))
    assert set(french) == {"weight", "date", "zip"}
    assert french["date"] != errors["date"]
