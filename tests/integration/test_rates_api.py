"""``/api/v1/rates``: the CLI's quote and compare over HTTP, with stable 422 codes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.core.app import Postroom


@pytest.fixture
def headers(postroom: Postroom) -> dict[str, str]:
    account = postroom.accounts.create("Rates Mailroom", "US", "USD")
    return {"Authorization": f"Bearer {postroom.accounts.create_api_key(account.number).token}"}


LETTER = {
    "carrier": "usps",
    "service": "first-class-letter",
    "weight": "1.2oz",
    "date": "2025-08-01",
}


def test_quote_answers_the_cli_json_shape(client: FlaskClient, headers):
    response = client.post("/api/v1/rates/quote", json=LETTER, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == {"amount": "1.03", "currency": "USD"}
    assert set(body) == {"total", "lines", "table"}
    assert body["lines"][0]["charged_weight"]["value"] == "2"
    assert body["table"]["carrier"] == "usps"
    assert len(body["table"]["digest"]) == 64


def test_quote_with_extras_and_a_structured_weight(client: FlaskClient, headers):
    body = {
        **LETTER,
        "weight": {"value": "34", "unit": "g"},
        "extras": ["certified", "return-receipt"],
    }
    response = client.post("/api/v1/rates/quote", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    # 34 g is charged as 2 oz: 0.74 + 0.29, Certified 5.30, Return Receipt 4.40
    assert data["total"]["amount"] == "10.73"
    assert [line["code"] for line in data["lines"]][1:] == ["certified", "return-receipt"]


def test_quote_needs_an_api_key(client: FlaskClient):
    response = client.post("/api/v1/rates/quote", json=LETTER)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_api_key"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"carrier": "fedex"}, "unknown_carrier"),
        ({"service": "teleport"}, "unknown_service"),
        ({"carrier": 12}, "invalid_request"),
        ({"carrier": None}, "missing_field"),
        ({"weight": None}, "missing_field"),
        ({"weight": 1.2}, "invalid_weight"),
        ({"weight": {"value": 1.2, "unit": "oz"}}, "float_not_allowed"),
        ({"weight": {"value": "1", "unit": "stone"}}, "unknown_unit"),
        ({"weight": {"value": "1", "unit": 3}}, "unknown_unit"),
        ({"weight": {"value": ["1"], "unit": "oz"}}, "invalid_weight"),
        ({"weight": "heavy"}, "invalid_weight"),
        ({"weight": "0oz"}, "invalid_weight"),
        ({"weight": "-1oz"}, "invalid_weight"),
        ({"weight": "1.2 furlongs"}, "unknown_unit"),
        ({"weight": "4oz"}, "over_limit"),
        ({"date": "1999-01-01"}, "no_rate_table"),
        ({"date": "2025-13-01"}, "invalid_date"),
        ({"date": "20250801"}, "invalid_date"),
        ({"date": 20250801}, "invalid_request"),
        ({"extras": ["gold-plating"]}, "unknown_extra"),
        ({"extras": "certified"}, "invalid_request"),
        ({"extras": [1]}, "invalid_request"),
        ({"extras": ["return-receipt"]}, "extra_requires"),
        ({"from": "10001"}, "invalid_zip"),
        ({"nonmachinable": "yes"}, "invalid_request"),
        ({"colour": "red"}, "unknown_field"),
    ],
)
def test_bad_quote_input_is_a_422_with_a_stable_code(client: FlaskClient, headers, change, code):
    body = {k: v for k, v in {**LETTER, **change}.items() if v is not None}
    response = client.post("/api/v1/rates/quote", json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'"1.2oz"', b"null", b"\xff\xfe"],
)
def test_a_body_that_is_not_a_json_object_is_a_422(client: FlaskClient, headers, raw):
    response = client.post(
        "/api/v1/rates/quote",
        data=raw,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_compare_names_the_cheapest_service(client: FlaskClient, headers):
    response = client.post(
        "/api/v1/rates/compare",
        json={"weight": "1oz", "date": "2025-08-01", "carriers": ["usps"]},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body["cheapest"]) == ["USD"]
    assert body["cheapest"]["USD"]["total"] == {"amount": "0.74", "currency": "USD"}
    assert body["cheapest"]["USD"]["table"]["service"] == "first-class-letter"
    assert body["options"][0] == body["cheapest"]["USD"]
    assert any(r["service"] == "postcard" for r in body["refused"])


def test_compare_names_the_cheapest_service_of_each_currency(client: FlaskClient, headers):
    response = client.post(
        "/api/v1/rates/compare",
        json={"weight": "0.2oz", "dimensions": "6x4x0.01in", "date": "2025-08-01"},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # dollars, euros and Canadian dollars are never ranked against each other
    assert sorted(body["cheapest"]) == ["CAD", "EUR", "USD"]
    for currency, cheapest in body["cheapest"].items():
        same = [o for o in body["options"] if o["total"]["currency"] == currency]
        assert cheapest == same[0]
        assert [Decimal(o["total"]["amount"]) for o in same] == sorted(
            Decimal(o["total"]["amount"]) for o in same
        )
    assert body["cheapest"]["USD"]["table"]["service"] == "postcard"
    currencies = [o["total"]["currency"] for o in body["options"]]
    assert currencies == sorted(currencies)  # grouped, one currency after the other


def test_compare_with_nothing_to_offer_names_no_cheapest(client: FlaskClient, headers):
    response = client.post(
        "/api/v1/rates/compare",
        json={"weight": "900lb", "date": "2025-08-01", "carriers": ["usps"]},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["options"] == []
    assert response.get_json()["cheapest"] == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"weight": "1oz", "carriers": ["nobody"]}, "unknown_carrier"),
        ({"weight": "1oz", "carriers": "usps"}, "invalid_request"),
        ({"weight": "1oz", "carrier": "usps"}, "unknown_field"),
    ],
)
def test_bad_compare_input_is_a_422(client: FlaskClient, headers, body, code):
    response = client.post("/api/v1/rates/compare", json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == code


def test_tables_lists_every_table_with_its_digest(client: FlaskClient, headers):
    response = client.get("/api/v1/rates/tables", headers=headers)
    assert response.status_code == 200
    tables = response.get_json()["tables"]
    keys = {(t["carrier"], t["service"]) for t in tables}
    assert ("usps", "first-class-letter") in keys
    assert all(len(t["digest"]) == 64 and t["source"]["url"] for t in tables)
    only = client.get("/api/v1/rates/tables?carrier=laposte", headers=headers).get_json()
    assert only["tables"]
    assert {t["carrier"] for t in only["tables"]} == {"laposte"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_field_values = st.one_of(
    _json,
    st.sampled_from(["usps", "first-class-letter", "1.2oz", "2025-08-01", "10001", "1 lb 4 oz"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            name: _field_values
            for name in [
                "carrier",
                "service",
                "weight",
                "date",
                "extras",
                "from",
                "to",
                "zone",
                "dimensions",
                "nonmachinable",
                "declared_value",
                "carriers",
            ]
        },
    )
)
def test_no_body_makes_the_rates_api_fail_with_a_500(client: FlaskClient, headers, body):
    for path in ("/api/v1/rates/quote", "/api/v1/rates/compare"):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code in (200, 422), (path, body, response.get_json())
        if response.status_code == 422:
            assert response.get_json()["error"]["code"]
