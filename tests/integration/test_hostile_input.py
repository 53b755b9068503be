"""Hostile input gets a 4xx with a stable code on the API and one error line on the CLI."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.frontends.cli import cli

DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = "9" * 5000
JSON = {"Content-Type": "application/json"}
US = ["--country", "US", "--currency", "USD"]


@pytest.fixture
def headers(postroom: Postroom) -> dict[str, str]:
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    return {"Authorization": f"Bearer {postroom.accounts.create_api_key(account.number).token}"}


def error(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/rates/quote", 422),  # the rates API answers every bad body 422
        ("/api/v1/postage", 422),
        ("/api/v1/vault/reservations", 422),
        ("/api/v1/vault/payments", 422),
        ("/api/v1/vault/refunds", 422),
    ],
)
def test_a_hundred_thousand_nested_brackets_are_a_4xx(client: FlaskClient, headers, path, status):
    response = client.post(path, data=DEEP, headers={**headers, **JSON})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] in ("json_too_deep", "invalid_json")


def test_a_body_over_a_megabyte_is_a_413(client: FlaskClient, headers):
    body = b'{"id": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post("/api/v1/vault/reservations", data=body, headers={**headers, **JSON})
    assert error(response) == (413, "payload_too_large")


@pytest.mark.parametrize(
    "weight", [f"{HUGE}g", {"value": HUGE, "unit": "g"}, f"0.{HUGE}oz", f"1 lb {HUGE} oz"]
)
def test_a_weight_of_thousands_of_digits_is_a_422(client: FlaskClient, headers, weight):
    body = {"carrier": "usps", "service": "first-class-letter", "weight": weight}
    response = client.post("/api/v1/rates/quote", json=body, headers=headers)
    assert error(response) == (422, "invalid_weight")


def test_an_amount_of_thousands_of_digits_is_a_422(client: FlaskClient, headers):
    body = {"id": "r-1", "amount": {"amount": HUGE, "currency": "USD"}}
    response = client.post("/api/v1/vault/reservations", json=body, headers=headers)
    assert error(response) == (422, "invalid_amount")
    raw = b'{"id": "r-2", "timeout_seconds": ' + HUGE.encode() + b"}"
    response = client.post("/api/v1/vault/reservations", data=raw, headers={**headers, **JSON})
    assert error(response) == (422, "number_too_long")


def test_statement_months_past_the_calendar_are_a_4xx(client: FlaskClient, headers):
    for month, expected in (("9999-12", 404), ("0000-00", 422), ("2026-13", 422)):
        response = client.get(f"/api/v1/vault/statements/{month}", headers=headers)
        assert response.status_code == expected


def test_a_wrong_method_answers_405_with_allow(client: FlaskClient, headers):
    response = client.open("/api/v1/vault/balance", method="TRACE", headers=headers)
    assert error(response) == (405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD", "OPTIONS"}


def _one_error_line(result, code: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert f"[{code}]" in line


def test_the_cli_answers_huge_weights_with_one_line(runner, tmp_path, postroom: Postroom):
    rates = ["rates", "quote", "--carrier", "usps", "--service", "first-class-letter"]
    _one_error_line(runner.invoke(cli, [*rates, "--weight", f"{HUGE}g"]), "invalid_weight")
    number = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    printing = ["meter", "print-postage", "--account", number, "--carrier", "usps"]
    printing += ["--service", "first-class-letter", "--origin-zip", "10001"]
    printing += ["--output", str(tmp_path / "i.png"), "--weight", f"{HUGE}g"]
    _one_error_line(runner.invoke(cli, printing), "invalid_weight")
    printing[3] = "C000000"
    _one_error_line(runner.invoke(cli, printing), "invalid_account_number")


def test_the_cli_answers_a_statement_of_9999_12_with_one_line(runner, postroom: Postroom):
    account = postroom.accounts.create("Acme Mailroom", "US", "USD")
    result = runner.invoke(
        cli, ["vault", "statement", "--account", account.number, "--month", "9999-12"]
    )
    _one_error_line(result, "month_not_closed")


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31mred", "line\nbreak", "\ud800"])
def test_control_characters_in_a_reference_are_refused_and_nothing_is_written(
    client: FlaskClient, postroom: Postroom, headers, text
):
    body = {"id": "r-nul", "amount": {"amount": "1.00", "currency": "USD"}, "reference": text}
    response = client.post("/api/v1/vault/reservations", json=body, headers=headers)
    assert error(response) == (422, "control_character")
    assert response.get_json()["error"]["details"] == {"field": "reference"}
    assert client.get("/api/v1/vault/transfers", headers=headers).get_json()["items"] == []


def test_control_characters_in_names_and_notes_are_refused(postroom: Postroom, runner):
    from postroom.core.errors import ValidationError
    from postroom.core.refunds.model import check_note

    with pytest.raises(ValidationError) as caught:
        postroom.accounts.create("Acme\x00Mailroom", "US", "USD")
    assert caught.value.code == "control_character"
    _one_error_line(
        runner.invoke(cli, ["accounts", "create", "--name", "Bad\x07Bell", *US]),
        "control_character",
    )
    assert check_note("two\nlines\tok") == "two\nlines\tok"
    with pytest.raises(ValidationError):
        check_note("nul\x00")


def test_a_nul_character_in_a_form_or_a_query_is_a_400(client: FlaskClient):
    """PostgreSQL's text cannot hold a NUL: a sign-in carrying one failed in the store."""
    page = client.get("/account/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    form = {"csrf_token": token.group(1), "email": "ann@example.com", "password": "wrong"}
    assert client.post("/account/sign-in", data=form).status_code == 401  # refused, on the page
    nul = client.post("/account/sign-in", data={**form, "email": "ann\x00@example.com"})
    assert nul.status_code == 400
    assert client.get("/track?number=1Z999").status_code == 200
    refused = client.get("/track?number=1Z%00")
    assert refused.status_code == 400
    assert "A field holds a NUL character." in refused.get_data(as_text=True)
    french = client.get("/track?number=1Z%00", headers={"Accept-Language": "fr-FR"})
    assert "Un champ contient un caractère NUL." in french.get_data(as_text=True)
