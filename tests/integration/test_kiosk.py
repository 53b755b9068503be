"""``/kiosk/price``: the touch-first price page of mailroom terminals, without a script."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient


def _csrf(client: FlaskClient) -> str:
    page = client.get("/kiosk/price").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def _post(client: FlaskClient, **fields):
    data = {
        "csrf_token": _csrf(client),
        "service": "usps/first-class-letter",
        "weight": "1.2",
        "unit": "oz",
        **fields,
    }
    return client.post("/kiosk/price", data=data)


def test_the_kiosk_page_offers_big_service_buttons_a_unit_toggle_and_a_keypad(
    client: FlaskClient,
):
    response = client.get("/kiosk/price")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<input type="radio" name="service" value="usps/first-class-letter">' in page
    assert page.count('name="service"') >= 4
    assert len(re.findall(r'name="service" value="[^"]+" checked', page)) == 1
    assert 'name="unit" value="oz" checked' in page
    assert 'name="unit" value="kg"' in page
    assert 'inputmode="decimal"' in page
    for key in "0123456789":
        assert f'name="key" value="{key}"' in page
    assert "<script" not in page  # works without JavaScript
    assert "/kiosk/static/kiosk.css" in page
    # kiosk prices today's mail by the installation's clock (frozen at 2026-03-02)
    assert "2026-03-02" in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_piece_is_priced_line_by_line_on_the_kiosk(client: FlaskClient):
    response = _post(client, extras=["certified", "return-receipt"], date="2025-08-01")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="quote-total">$10.73</td>' in page
    assert "<td>Certified Mail</td>" in page
    assert "<td>Return Receipt (hardcopy)</td>" in page
    assert "charged as 2 oz" in page
    assert "Price another piece" in page


def test_the_keypad_builds_the_weight_on_the_server(client: FlaskClient):
    page = _post(client, weight="1", key="2").get_data(as_text=True)
    assert re.search(r'id="weight" name="weight" [^>]* value="12"', page)
    assert "quote-total" not in page  # a key press prices nothing
    page = _post(client, weight="12", key=".").get_data(as_text=True)
    assert 'value="12."' in page
    page = _post(client, weight="12.", key=".").get_data(as_text=True)
    assert 'value="12."' in page  # one decimal point
    assert 'value="1"' in _post(client, weight="12", key="back").get_data(as_text=True)
    cleared = _post(client, weight="12", key="clear").get_data(as_text=True)
    assert 'maxlength="20" value=""' in cleared
    # what was chosen stays chosen across key presses
    kept = _post(client, weight="1", key="5", unit="g", extras=["certified"]).get_data(as_text=True)
    assert 'name="unit" value="g" checked' in kept
    assert 'value="certified" checked' in kept


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"weight": "abc"}, "weight", "Enter a weight greater than zero"),
        ({"weight": "0"}, "weight", "Enter a weight greater than zero"),
        ({"weight": "9"}, "weight", "over a limit"),
        ({"unit": "stone"}, "weight", "Choose a unit"),
        ({"service": "usps/no-such"}, "service", "Choose a service"),
        ({"extras": ["return-receipt"]}, "extras", "needs another one"),
        ({"from": "10001"}, "zip", "Enter both ZIP codes"),
        ({"key": "%%%%"}, None, None),
    ],
)
def test_bad_input_on_the_kiosk_is_shown_next_to_its_field(client, fields, field, message):
    response = _post(client, **fields)
    page = response.get_data(as_text=True)
    if field is None:  # an unknown key changes nothing
        assert response.status_code == 200
        assert 'value="1.2"' in page
        return
    assert response.status_code == 422
    assert f'id="{field}-error"' in page
    assert message in page


def test_the_kiosk_refuses_a_post_without_the_csrf_token(client: FlaskClient, app):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/kiosk/price", data={"weight": "1", "unit": "oz"})
    assert response.status_code == 400


def test_the_kiosk_speaks_french_with_french_service_names(client: FlaskClient):
    response = client.post(
        "/language", data={"lang": "fr", "next": "/kiosk/price", "csrf_token": _csrf(client)}
    )
    assert response.headers["Location"].endswith("/kiosk/price")
    page = client.get("/kiosk/price").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "Lettre First-Class Mail (affranchissement machine)" in page
    priced = _post(client, weight="1,2", extras=["certified"], date="2025-08-01").get_data(
        as_text=True
    )
    assert "Certified Mail (envoi avec preuve de distribution)" in priced
    # the breakdown in French numbers, as the amounts column
    assert "1,2 oz facturé comme 2 oz: 0,74\xa0$US + 1 x 0,29\xa0$US</td>" in priced
    assert 'id="quote-total">6,33\xa0$US</td>' in priced
