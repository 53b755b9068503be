"""Refunds through the JSON API: a customer asks and reads only its own refunds."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.money import Money

V = "/api/v1/vault"
DAY = "2026-03-01"  # the clock fixture is 2026-03-02


def usd(text: str) -> dict[str, str]:
    return {"amount": text, "currency": "USD"}


def _customer(postroom: Postroom, name: str, serial: str) -> tuple[str, dict[str, str]]:
    account = postroom.accounts.create(name, "US", "USD")
    token = postroom.accounts.create_api_key(account.number, "test").token
    postroom.ledger.deposit(account.number, Money.parse("100 USD"), f"dep-{serial}")
    postroom.meters.funds.register_meter(serial, account.number, "USPS")
    postroom.meters.funds.refill(serial, Money.parse("50 USD"), f"refill-{serial}")
    postroom.meters.funds.record_usage(serial, Money.parse("0.73 USD"), 1, f"use-1-{serial}")
    postroom.meters.funds.record_usage(serial, Money.parse("12.40 USD"), 1, f"use-2-{serial}")
    return account.number, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def customer(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return _customer(postroom, "Acme Mailroom", "PB-1")


@pytest.fixture
def other(postroom: Postroom) -> tuple[str, dict[str, str]]:
    return _customer(postroom, "Rival Mailroom", "PB-2")


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "rf-1",
        "meter": "PB-1",
        "reason": "misprinted",
        "note": "wrong date",
        "pieces": [
            {"piece": 1, "face": usd("0.73"), "indicium_date": DAY},
            {"piece": 2, "face": usd("12.40"), "indicium_date": DAY},
        ],
    }
    data.update(changes)
    return data


def test_request_list_show_and_the_agents_approval(
    client: FlaskClient, postroom: Postroom, customer: tuple[str, dict[str, str]]
) -> None:
    number, headers = customer
    response = client.post(f"{V}/refunds", json=body(), headers=headers)
    assert response.status_code == 201, response.get_json()
    asked = response.get_json()
    assert asked["status"] == "requested"
    assert (asked["face"], asked["fee"], asked["net"]) == (usd("13.13"), usd("1.31"), usd("11.82"))
    replay = client.post(f"{V}/refunds", json=body(), headers=headers)
    assert (replay.status_code, replay.get_json()) == (200, asked)
    again = client.post(f"{V}/refunds", json=body(note="other"), headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "refund_id_reused"

    page = client.get(f"{V}/refunds", headers=headers).get_json()
    assert [r["id"] for r in page["items"]] == ["rf-1"]
    assert client.get(f"{V}/refunds/rf-1", headers=headers).get_json() == asked

    postroom.refunds.approve(number, "rf-1", "Jane Agent")  # agents decide on the CLI
    shown = client.get(f"{V}/refunds/rf-1", headers=headers).get_json()
    assert shown["status"] == "approved"
    assert shown["refund_transfer_id"] == f"refund:{number}:rf-1"
    balance = client.get(f"{V}/balance", headers=headers).get_json()
    assert balance["balance"] == usd("61.82")
    report = client.get(f"{V}/report?type=refund&type=fee&format=json", headers=headers)
    kinds = [(e["type"], e["amount"]) for e in report.get_json()["entries"]]
    assert kinds == [("refund", usd("13.13")), ("fee", usd("-1.31"))]
    assert client.get(f"{V}/refunds?status=requested", headers=headers).get_json()["items"] == []


def test_another_accounts_refund_and_meter_are_404(
    client: FlaskClient,
    customer: tuple[str, dict[str, str]],
    other: tuple[str, dict[str, str]],
) -> None:
    assert client.post(f"{V}/refunds", json=body(), headers=customer[1]).status_code == 201
    foreign = client.get(f"{V}/refunds/rf-1", headers=other[1])
    assert foreign.status_code == 404
    assert foreign.get_json()["error"]["code"] == "refund_not_found"
    assert client.get(f"{V}/refunds", headers=other[1]).get_json()["items"] == []
    theirs = client.post(f"{V}/refunds", json=body(), headers=other[1])  # PB-1 is not theirs
    assert theirs.status_code == 404
    assert theirs.get_json()["error"]["code"] == "meter_not_found"
    assert client.get(f"{V}/refunds/rf-1").status_code == 401


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"pieces": [{"piece": 1, "face": usd("0"), "indicium_date": DAY}]}, 422, "invalid_amount"),
        ({"pieces": [{"piece": 1, "face": usd("-0.73"), "indicium_date": DAY}]}, 422, None),
        ({"pieces": [{"piece": 1, "face": 0.73, "indicium_date": DAY}]}, 422,
         "amount_not_a_string"),
        (
            {"pieces": [{"piece": 1, "face": {"amount": 0.73, "currency": "USD"},
                         "indicium_date": DAY}]},
            422,
            "amount_not_a_string",
        ),
        (
            {"pieces": [{"piece": 1, "face": {"amount": "0.73", "currency": "EUR"},
                         "indicium_date": DAY}]},
            409,
            "currency_mismatch",
        ),
        ({"pieces": [{"piece": 1, "face": usd("0.73"), "indicium_date": "01/03/2026"}]}, 422,
         "invalid_date"),
        ({"pieces": [{"piece": 1.5, "face": usd("0.73"), "indicium_date": DAY}]}, 422,
         "invalid_piece"),
        ({"pieces": [{"piece": 9, "face": usd("0.73"), "indicium_date": DAY}]}, 422,
         "piece_not_printed"),
        ({"pieces": [{"piece": 1, "face": usd("0.73"), "indicium_date": "2025-12-01"}]}, 422,
         "refund_window_passed"),
        ({"pieces": []}, 422, "no_pieces"),
        ({"pieces": "1"}, 422, "no_pieces"),
        ({"meter": "NOPE"}, 404, "meter_not_found"),
        ({"meter": 7}, 422, "invalid_serial"),
        ({"reason": "lost"}, 422, "invalid_reason"),
        ({"id": "has space"}, 422, "invalid_refund_id"),
        ({"id": None}, 422, "missing_field"),
        ({"public_key": "not a key"}, 422, "invalid_public_key"),
        (
            {"pieces": [{"piece": 1, "face": usd("0.73"), "indicium_date": DAY,
                         "indicium": "0g"}]},
            422,
            "invalid_indicium",
        ),
    ],
)  # fmt: skip
def test_bad_requests_write_nothing(
    client: FlaskClient,
    postroom: Postroom,
    customer: tuple[str, dict[str, str]],
    changes: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    response = client.post(f"{V}/refunds", json=body(**changes), headers=customer[1])
    assert response.status_code == status, response.get_json()
    if code is not None:
        assert response.get_json()["error"]["code"] == code
    assert postroom.refunds.list() == []


def test_bodies_that_are_not_json(client: FlaskClient, customer: tuple[str, dict[str, str]]):
    headers = customer[1]
    response = client.post(f"{V}/refunds", data="id=1", headers=headers)
    assert response.status_code == 415
    response = client.post(
        f"{V}/refunds", data="{", headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert client.get(f"{V}/refunds?status=pending", headers=headers).status_code == 422
    assert client.get(f"{V}/refunds?limit=0", headers=headers).status_code == 422


def test_a_forged_indicium_signature_is_403(
    client: FlaskClient, customer: tuple[str, dict[str, str]]
) -> None:
    from datetime import date

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from postroom.core.meters.indicium import IndiciumRecord

    key = ec.generate_private_key(ec.SECP256R1())
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    record = IndiciumRecord(
        "PB-1", 1, Money(730, "USD"), date(2026, 3, 1), "10001", "FCM", 730, 49270, b"\0" * 32
    ).to_bytes()
    signature = key.sign(record, ec.ECDSA(hashes.SHA256()))
    piece = {"piece": 1, "face": usd("0.73"), "indicium_date": DAY, "indicium": record.hex()}
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    forged = {**piece, "signature": flipped.hex()}
    response = client.post(
        f"{V}/refunds", json=body(pieces=[forged], public_key=pem), headers=customer[1]
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "indicium_signature_invalid"
    good = {**piece, "signature": signature.hex()}
    response = client.post(
        f"{V}/refunds", json=body(pieces=[good], public_key=pem), headers=customer[1]
    )
    assert response.status_code == 201
    assert response.get_json()["pieces"][0]["signature_verified"] is True
