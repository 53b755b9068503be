"""``/api/v1/kiosk``: a mailroom terminal talks to the data center with its kiosk key;
everything answers for the key's account alone (``kiosk_account``, ``operator``:
conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock, today
from postroom.core.meters.printing import verify_indicium
from postroom.core.money import Money

OPERATOR_PIN = "246813"  # the ``operator`` fixture's


class Terminal:
    """Calls of one terminal: its key, and the operator token once signed in."""

    def __init__(self, client: FlaskClient, key: str) -> None:
        self.client = client
        self.key = key
        self.operator = ""

    def call(self, method: str, path: str, body: object = None, **headers: str):
        sent = {"Authorization": f"Bearer {self.key}", **headers}
        if self.operator:
            sent.setdefault("X-Kiosk-Operator", self.operator)
        return self.client.open(f"/api/v1/kiosk{path}", method=method, json=body, headers=sent)

    def sign_in(self, operator: int, pin: str = OPERATOR_PIN):
        answer = self.call("POST", "/session", {"operator": operator, "pin": pin})
        if answer.status_code == 201:
            self.operator = answer.get_json()["token"]
        return answer


def _letter(key: str = "piece-1", **changes: object) -> dict[str, object]:
    return {
        "carrier": "usps",
        "service": "first-class-letter",
        "weight": {"value": "1", "unit": "oz"},
        "origin_zip": "10001",
        "cost_center": "Legal",
        "idempotency_key": key,
        **changes,
    }


@pytest.fixture
def terminal(client: FlaskClient, postroom: Postroom, kiosk_account: CustomerAccount) -> Terminal:
    return Terminal(client, postroom.kiosks.issue_key(kiosk_account.number, "Mailroom").token)


def test_the_terminal_learns_its_account_operators_and_cost_centres(
    terminal: Terminal, kiosk_account: CustomerAccount, operator: KioskOperator
) -> None:
    answer = terminal.call("GET", "")
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["account"]["number"] == kiosk_account.number
    assert data["account"]["currency"] == "USD"
    assert data["key"]["label"] == "Mailroom"
    assert data["key"]["last_contact_at"] is not None
    assert data["cost_centers"] == ["Legal", "Sales"]
    [shown] = data["operators"]
    assert (shown["id"], shown["name"]) == (operator.id, "Alice Martin")


def test_offers_are_the_accounts_currency_only_cheapest_first(terminal: Terminal) -> None:
    answer = terminal.call("POST", "/offers", {"weight": "15 g"})
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["currency"] == "USD"
    totals = [int(o["total"]["amount"].replace(".", "")) for o in data["options"]]
    assert totals == sorted(totals)
    assert {o["total"]["currency"] for o in data["options"]} == {"USD"}
    assert "laposte" not in {o["table"]["carrier"] for o in data["options"]}


def test_an_operator_signs_in_and_prints_once_per_key(
    terminal: Terminal, postroom: Postroom, kiosk_account: CustomerAccount, operator
) -> None:
    assert terminal.call("POST", "/postage", _letter()).status_code == 401  # no operator
    assert terminal.sign_in(operator.id, "000000").status_code == 401
    assert terminal.sign_in(operator.id).status_code == 201
    assert terminal.call("GET", "/session").get_json()["operator"]["name"] == "Alice Martin"

    printed = terminal.call("POST", "/postage", _letter())
    assert printed.status_code == 201, printed.get_json()
    piece = printed.get_json()
    assert piece["cost_center"] == "Legal"
    again = terminal.call("POST", "/postage", _letter())
    assert again.status_code == 200
    assert again.get_json()["piece"] == piece["piece"]
    report = postroom.ledger.report(kiosk_account.number, cost_center="Legal")
    assert len(report.entries) == 1
    assert "Alice Martin" in report.entries[0].reference

    image = terminal.call("GET", f"/postage/{piece['serial']}/{piece['piece']}/indicium.png")
    assert image.mimetype == "image/png"
    key = postroom.meters.get(piece["serial"]).public_key_pem
    assert key is not None
    assert verify_indicium(image.data, key, today=today(postroom.clock)).valid

    assert terminal.call("DELETE", "/session").status_code == 204
    assert terminal.call("POST", "/postage", _letter("piece-2")).status_code == 401


def test_an_idle_operator_is_signed_out(
    terminal: Terminal, clock: FrozenClock, postroom: Postroom, operator: KioskOperator
) -> None:
    terminal.sign_in(operator.id)
    clock.advance(timedelta(seconds=postroom.config.kiosk_idle_seconds + 1))
    answer = terminal.call("GET", "/session")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "kiosk_signed_out"


def test_a_euro_service_is_refused_with_its_reason_and_charges_nothing(
    terminal: Terminal, postroom: Postroom, kiosk_account: CustomerAccount, operator
) -> None:
    terminal.sign_in(operator.id)
    before = postroom.ledger.report(kiosk_account.number).entries
    euro = _letter(carrier="laposte", service="lettre-verte", weight="15 g")
    for _attempt in range(2):
        answer = terminal.call("POST", "/postage", euro)
        assert answer.status_code == 422
        assert answer.get_json()["error"]["code"] == "service_not_printable"
    assert postroom.ledger.report(kiosk_account.number).entries == before


def test_an_api_key_a_revoked_key_and_no_key_are_refused(
    client: FlaskClient, postroom: Postroom, kiosk_account: CustomerAccount
) -> None:
    api_key = postroom.accounts.create_api_key(kiosk_account.number).token
    assert Terminal(client, api_key).call("GET", "").status_code == 401
    issued = postroom.kiosks.issue_key(kiosk_account.number, "Old terminal")
    postroom.kiosks.revoke_key(kiosk_account.number, issued.key.prefix)
    refused = Terminal(client, issued.token).call("GET", "")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "kiosk_key_revoked"
    assert client.get("/api/v1/kiosk").status_code == 401


def test_another_accounts_terminal_gets_404_for_a_piece_and_cannot_use_its_operator(
    terminal: Terminal, client: FlaskClient, postroom: Postroom, operator: KioskOperator
) -> None:
    terminal.sign_in(operator.id)
    piece = terminal.call("POST", "/postage", _letter()).get_json()
    other = postroom.accounts.create("Other Mailroom", "US", "USD")
    postroom.ledger.deposit(other.number, Money.parse("10 USD"), "dep-other")
    theirs = Terminal(client, postroom.kiosks.issue_key(other.number, "Theirs").token)
    path = f"/postage/{piece['serial']}/{piece['piece']}/indicium.png"
    assert theirs.call("GET", path).status_code == 404
    # Alice's badge of another account: her token and her id mean nothing here
    theirs.operator = terminal.operator
    assert theirs.call("GET", "/session").status_code == 401
    assert theirs.sign_in(operator.id).status_code == 401
    assert theirs.call("POST", "/postage", _letter("theirs-1")).status_code == 401


def test_wrong_pins_in_a_row_lock_the_operator(terminal: Terminal, operator) -> None:
    codes = [terminal.sign_in(operator.id, "111111").status_code for _ in range(8)]
    assert codes[0] == 401
    assert codes[-1] == 423
    assert terminal.sign_in(operator.id).status_code == 423  # even the right PIN, for now
