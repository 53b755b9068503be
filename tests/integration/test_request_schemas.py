"""The OpenAPI document is what checks request bodies: change it and the API changes.

Every documented request body is swapped for one that requires a probe field; each
operation must then refuse a body without it, with the document's ``missing_field`` for
that field. A view that read its body by hand instead would answer something else.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.errors import ValidationError
from postroom.frontends.web import requestbody
from postroom.frontends.web.apidoc import openapi_document
from postroom.frontends.web.requestbody import BodySchema, body_schemas

SERIAL = "PR-SCHEMA-1"
PROBE = BodySchema.compile(
    {"type": "object", "required": ["probe"], "properties": {"probe": {"type": "string"}}}
)


@pytest.fixture
def keys(postroom: Postroom) -> dict[str, str]:
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    meter = postroom.meters.register(account.number, product_code="PR-VPSD1", serial=SERIAL)
    # a supervisor: staff of every staff route with a body (slogan decisions included)
    link = postroom.identity.invite_staff("agent@postroom.example", "supervisor")
    postroom.identity.accept_invitation(
        link.token,
        name="Agent",
        password="correct horse battery staple 7",
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language="en",
    )
    staff = postroom.identity.sign_in(
        "agent@postroom.example", "correct horse battery staple 7", client="127.0.0.1"
    )
    return {
        "customer": postroom.accounts.create_api_key(account.number).token,
        "meter": meter.api_key,
        "kiosk": postroom.kiosks.issue_key(account.number, "Mailroom").token,
        "staff_session": staff.token,
    }


#: Operations for staff, by their portal session and the page's CSRF token.
STAFF_SESSION_PATHS = {
    "/orders/{number}/status",
    "/catalog/{sku}/stock",
    "/slogans/{number}/decision",
}


def _page_csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def documented_bodies() -> list[tuple[str, str]]:
    return sorted(body_schemas())


def test_every_operation_with_a_body_in_the_document_is_compiled():
    document = openapi_document("test")
    expected = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "requestBody" in operation
    }
    assert set(body_schemas()) == expected
    assert len(expected) >= 14


@pytest.mark.parametrize(("path", "method"), documented_bodies())
def test_each_body_is_checked_against_the_document(
    client: FlaskClient, keys: dict[str, str], monkeypatch, path: str, method: str
):
    monkeypatch.setattr(requestbody, "body_schemas", lambda: dict.fromkeys(body_schemas(), PROBE))
    url = "/api/v1" + re.sub(r"\{serial\}", SERIAL, re.sub(r"\{[a-z_]+\}", "x", path))
    key = keys["meter"] if path.startswith("/meters/sync/") else keys["customer"]
    key = keys["kiosk"] if path.startswith("/kiosk/") else key
    response = client.open(
        url, method=method.upper(), json={}, headers={"Authorization": f"Bearer {key}"}
    )
    headers = {"Authorization": f"Bearer {key}"}
    if path in STAFF_SESSION_PATHS:  # staff call these with their portal session
        client.set_cookie("postroom_session", keys["staff_session"])
        headers = {"X-CSRFToken": _page_csrf(client.get("/").get_data(as_text=True))}
    response = client.open(url, method=method.upper(), json={}, headers=headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "missing_field"
    assert "'probe'" in response.get_json()["error"]["message"]


def _uncoded(schema: dict, where: str, coded: bool) -> list[str]:
    """Properties under ``schema`` with no error code of their own or above them."""
    coded = coded or "x-error-code" in schema
    found = []
    for name, sub in schema.get("properties", {}).items():
        here = f"{where}.{name}"
        if not (coded or "x-error-code" in sub):
            found.append(here)
        found += _uncoded(sub, here, coded)
    if isinstance(schema.get("items"), dict):
        found += _uncoded(schema["items"], f"{where}[]", coded)
    return found


def test_every_documented_body_property_names_its_error_code():
    """A violation never falls back to a generic code: each field says which it answers."""
    uncoded = [
        field
        for (path, method), body in body_schemas().items()
        for field in _uncoded(dict(body.schema), f"{method.upper()} {path}", False)
    ]
    assert uncoded == []


MONEY = {"amount": "1.00", "currency": "USD"}


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/vault/reservations", {"amount": MONEY}, "missing_field"),
        ("/vault/reservations", {"id": "r-1", "amount": 5}, "amount_not_a_string"),
        (
            "/vault/reservations",
            {"id": "r-1", "amount": {**MONEY, "amount": 1.5}},
            "amount_not_a_string",
        ),
        (
            "/vault/reservations",
            {"id": "r-1", "amount": MONEY, "timeout_seconds": 0},
            "invalid_timeout",
        ),
        (
            "/vault/reservations",
            {"id": "r-1", "amount": MONEY, "reference": "a\x01"},
            "control_character",
        ),
        ("/vault/reservations", {"id": "r 1", "amount": MONEY}, "invalid_transfer_id"),
        (
            "/vault/refunds",
            {"id": 5, "meter": "M-1", "reason": "unused", "pieces": []},
            "invalid_refund_id",
        ),
        (
            "/meters/{serial}/refunds",
            {"id": 5, "reason": "unused", "pieces": [1]},
            "invalid_refund_id",
        ),
        (
            "/vault/refunds",
            {"id": "f-1", "meter": "M-1", "reason": "lost", "pieces": [{}]},
            "invalid_reason",
        ),
        (
            "/meters/{serial}/refunds",
            {"id": "f-1", "reason": "lost", "pieces": [1]},
            "invalid_reason",
        ),
        (
            "/vault/refunds",
            {"id": "f-1", "meter": "M-1", "reason": "unused", "pieces": []},
            "no_pieces",
        ),
        (
            "/meters/{serial}/refunds",
            {"id": "f-1", "reason": "unused", "pieces": []},
            "invalid_piece",
        ),
        (
            "/rates/quote",
            {"carrier": "usps", "service": "x", "weight": {"value": "1", "unit": 3}},
            "unknown_unit",
        ),
        ("/rates/compare", {"weight": "1oz", "colour": "red"}, "unknown_field"),
        (
            "/vault/reservations/{pending_id}/post",
            {"id": "p-1", "amount": 5},
            "amount_not_a_string",
        ),
        (
            "/vault/reservations/{pending_id}/post",
            {"id": "p-1", "amount": {"amount": "1"}},
            "invalid_amount",
        ),
    ],
)
def test_a_violation_answers_the_code_the_document_names(path: str, body: dict, code: str):
    with pytest.raises(ValidationError) as raised:
        body_schemas()[(path, "post")].check(body)
    assert raised.value.code == code


def test_the_first_field_in_the_documents_order_is_reported():
    with pytest.raises(ValidationError) as raised:
        body_schemas()[("/vault/payments", "post")].check({"instrument_id": 7})
    assert (raised.value.code, raised.value.details) == ("missing_field", {"field": "id"})


def test_a_lone_surrogate_reaches_the_domain_rather_than_the_validator():
    body = {"id": "r-1", "amount": MONEY, "reference": "a\ud800"}
    body_schemas()[("/vault/reservations", "post")].check(body)  # the domain refuses it


def test_a_huge_value_is_not_echoed_back():
    body = {"id": "r-1", "amount": MONEY, "reference": "x" * 100_000}
    with pytest.raises(ValidationError) as raised:
        body_schemas()[("/vault/reservations", "post")].check(body)
    assert raised.value.code == "invalid_reference"
    assert len(raised.value.message) <= 300
