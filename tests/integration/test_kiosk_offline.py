"""The terminal while its data center cannot be reached: the attached meter's pieces and
the support cases wait in the queue (a SQLite file in the data directory) and reach the
data center once, when it answers again; the screens say what waits (``kiosk_account``,
``operator``: conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.kiosks.model import KioskPiece, PieceSource
from postroom.core.money import Money
from postroom.frontends.kiosk.backend import DataCenterUnreachable
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.offline import OfflineQueue, WatchedDataCenter
from postroom.frontends.kiosk.terminal import create_terminal_app

PIN = "246813"


class Cable:
    """The local data center behind a cable that can be pulled out."""

    def __init__(self, inner: LocalDataCenter) -> None:
        self.inner = inner
        self.plugged = True

    def __getattr__(self, name: str) -> Callable[..., Any]:
        call = getattr(self.inner, name)

        def through(*args: Any, **kwargs: Any) -> Any:
            if not self.plugged:
                raise DataCenterUnreachable("the data center does not answer")
            return call(*args, **kwargs)

        return through


@pytest.fixture
def cable(postroom: Postroom, kiosk_account: CustomerAccount) -> Cable:
    return Cable(LocalDataCenter(postroom, kiosk_account.number, "Mailroom"))


def _piece(postroom: Postroom, operator: KioskOperator, number: int) -> KioskPiece:
    return KioskPiece(
        serial="PM-100200",
        piece=number,
        printed_at=postroom.clock.now(),
        postage=Money(730, "USD"),
        carrier="usps",
        service="first-class-letter",
        cost_center="Legal",
        operator_id=operator.id,
        operator_name=operator.name,
        terminal="",
        source=PieceSource.METER,
    )


def test_pieces_and_cases_wait_offline_and_arrive_once(
    tmp_path: Path,
    postroom: Postroom,
    kiosk_account: CustomerAccount,
    operator: KioskOperator,
    cable: Cable,
) -> None:
    queue = OfflineQueue(tmp_path / "queue.sqlite3")
    watched = WatchedDataCenter(cable, queue)  # type: ignore[arg-type]
    app = create_terminal_app(watched, secret_key="t", origin_zip="10001")
    app.config["TESTING"] = True
    screen = app.test_client()
    page = screen.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    screen.post("/sign-in", data={"csrf_token": token[1], "operator": str(operator.id), "pin": PIN})

    assert 'id="signed-in-operator"' in screen.get("/weigh").text

    cable.plugged = False
    assert watched.log_piece(_piece(postroom, operator, 1)) is True  # kept
    assert watched.log_piece(_piece(postroom, operator, 1)) is False  # the same piece
    assert watched.log_piece(_piece(postroom, operator, 2)) is True
    help_page = screen.get("/help").text  # the operator stays signed in, from memory
    assert 'id="offline"' in help_page
    assert "the price refresh wait for the connection" in help_page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', help_page)
    assert key is not None
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', help_page)
    assert fresh is not None
    form = {"csrf_token": fresh[1], "subject": "Scale", "idempotency_key": key[1]}
    kept = screen.post("/help", data=form)
    assert kept.status_code == 202
    assert 'id="case-queued"' in kept.text
    assert queue.waiting() == 3
    assert "3 entries are kept on this terminal" in screen.get("/weigh").text
    assert postroom.kiosks.report(kiosk_account.number).pieces == ()

    cable.plugged = True
    done = watched.flush()
    assert done is not None
    assert (done.sent, done.refused, done.waiting) == (3, 0, 0)
    assert watched.offline is False
    # sent again (a flush that died before it forgot them): nothing doubles
    queue.push_piece(_piece(postroom, operator, 1))
    queue.push_case("Alice Martin", "Scale", "again", key[1])
    assert queue.flush(cable).sent == 2  # type: ignore[arg-type]
    report = postroom.kiosks.report(kiosk_account.number)
    assert [(p.piece, p.terminal, p.source) for p in report.pieces] == [
        (1, "Mailroom", PieceSource.METER),
        (2, "Mailroom", PieceSource.METER),
    ]
    cases = postroom.cases.list(kiosk_account.number)
    assert [case.subject for case in cases] == ["Scale"]
    assert 'id="offline"' not in screen.get("/weigh").text


def test_an_entry_the_data_center_refuses_is_set_aside(tmp_path: Path, cable: Cable) -> None:
    queue = OfflineQueue(tmp_path / "queue.sqlite3")
    bad = {"serial": "PM-1", "piece": 1, "printed_at": "2026-12-02T09:00:00+00:00"}
    queue.push(
        "piece",
        {
            **bad,
            "postage": {"amount": "1", "currency": "EUR"},
            "carrier": "x",
            "service": "y",
            "operator_name": "Al",
        },
        "piece:PM-1:1",
    )
    done = queue.flush(cable)  # type: ignore[arg-type]
    assert (done.sent, done.refused, done.waiting) == (0, 1, 0)
    [refused] = queue.entries(refused=True)
    assert refused.refused == "currency_mismatch"
