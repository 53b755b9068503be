"""Tracking pages: the public look-up shows status and scans and nothing personal, and
is rate-limited; ``/shipments`` and a shipment's page belong to the signed-in user's
account (another account's shipment is 404), in English and French, with CSRF on
every form."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from postroom.core.app import Postroom
from postroom.core.tracking.model import Parties
from postroom.frontends.web import create_app

PASSWORD = "quiet harbour lantern 8"
NUMBER = "9400111201080805483016"


def _person(postroom: Postroom, number: str, email: str) -> None:
    link = postroom.identity.invite(number, email, "user")
    postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password=PASSWORD,
        security_question="First mailroom?",
        security_answer="Dock 4",
        phone="+12125550100",
        language="en",
    )


def sign_in(client: FlaskClient, postroom: Postroom, email: str) -> None:
    session = postroom.identity.sign_in(email, PASSWORD, client="127.0.0.1")
    client.set_cookie("postroom_session", session.token)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


@pytest.fixture
def accounts(postroom: Postroom) -> dict[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    theirs = postroom.accounts.create("Other Mailroom", "US", "USD").number
    _person(postroom, mine, "clerk@acme.example")
    _person(postroom, theirs, "clerk@other.example")
    return {"mine": mine, "theirs": theirs}


def test_the_public_lookup_shows_status_and_journey_but_no_names(
    client: FlaskClient, postroom: Postroom, accounts: dict[str, str]
) -> None:
    shipment = postroom.tracking.add(
        accounts["mine"], NUMBER, parties=Parties("Acme Corp", "Ann Smith", "Chicago", "Boston")
    )
    postroom.tracking.refresh(accounts["mine"], shipment.id)
    page = client.get("/track", query_string={"number": "9400 1112 0108 0805 4830 16"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert NUMBER in text
    assert "Ann Smith" not in text
    assert "Acme Corp" not in text
    assert "Journey" in text
    french = client.get(
        "/track", query_string={"number": NUMBER}, headers={"Accept-Language": "fr"}
    ).get_data(as_text=True)
    assert "Parcours" in french
    wrong = client.get("/track", query_string={"number": "9400111201080805483017"})
    assert "check digit is wrong" in wrong.get_data(as_text=True)
    assert "We follow no parcel" in client.get(
        "/track", query_string={"number": "1Z5R89390357567127"}
    ).get_data(as_text=True)


def test_the_public_lookup_is_rate_limited(postroom: Postroom) -> None:
    app: Flask = create_app({"TESTING": True}, postroom=postroom)
    client = app.test_client()
    # the default: 30 look-ups a minute per client address
    codes = [
        client.get("/track", query_string={"number": f"{n:09d}{n % 7}"}).status_code
        for n in range(100_000_000, 100_000_031)
    ]
    assert codes[:30] == [200] * 30
    assert codes[30] == 429
    assert client.get("/track").status_code == 200  # the empty form costs nothing


def test_my_shipments_follow_a_number_and_see_its_page(
    client: FlaskClient, postroom: Postroom, accounts: dict[str, str]
) -> None:
    sign_in(client, postroom, "clerk@acme.example")
    page = client.get("/shipments").get_data(as_text=True)
    assert "Your account follows no shipment yet." in page
    refused = client.post("/shipments", data={"number": NUMBER})
    assert refused.status_code == 400  # no CSRF token
    bad = client.post(
        "/shipments", data={"csrf_token": csrf(page), "number": "9400111201080805483017"}
    )
    assert "check digit is wrong" in bad.get_data(as_text=True)
    followed = client.post(
        "/shipments",
        data={"csrf_token": csrf(page), "number": NUMBER, "reference": "ORDER-9"},
    )
    assert followed.status_code == 303
    detail_url = followed.headers["Location"]
    detail = client.get(detail_url).get_data(as_text=True)
    assert "ORDER-9" in detail
    assert "Need help with this parcel?" in detail
    refreshed = client.post(f"{detail_url}/refresh", data={"csrf_token": csrf(detail)})
    assert refreshed.status_code == 303
    asked = client.post(
        detail_url, data={"csrf_token": csrf(detail), "kind": "lost", "note": "not here"}
    ).get_data(as_text=True)
    assert "Support has your request: reference" in asked or "not possible" in asked
    french = client.get(detail_url, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "pour ce colis ?" in french
    assert "Parcours" in french
    listed = client.get("/shipments").get_data(as_text=True)
    assert NUMBER in listed


def test_another_accounts_shipment_is_404(
    client: FlaskClient, postroom: Postroom, accounts: dict[str, str]
) -> None:
    theirs = postroom.tracking.add(accounts["theirs"], NUMBER)
    sign_in(client, postroom, "clerk@acme.example")
    page = client.get("/shipments").get_data(as_text=True)
    assert client.get(f"/shipments/{theirs.id}").status_code == 404
    assert (
        client.post(f"/shipments/{theirs.id}/refresh", data={"csrf_token": csrf(page)}).status_code
        == 404
    )
    assert (
        client.post(
            f"/shipments/{theirs.id}", data={"csrf_token": csrf(page), "kind": "trace"}
        ).status_code
        == 404
    )
    assert NUMBER not in page


def test_signed_out_visitors_go_to_the_sign_in(client: FlaskClient) -> None:
    for path in ("/shipments", "/shipments/1", "/shipments/report"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/sign-in")


def test_the_report_page_charts_the_accounts_shipments_only(
    client: FlaskClient, postroom: Postroom, accounts: dict[str, str]
) -> None:
    postroom.tracking.add(accounts["mine"], NUMBER, reference="MINE-1")
    postroom.tracking.add(accounts["theirs"], "1Z5R89390357567127", reference="THEIRS-1")
    sign_in(client, postroom, "clerk@acme.example")
    page = client.get("/shipments/report").get_data(as_text=True)
    assert "<svg" in page
    assert "Shipments by status" in page
    assert "THEIRS-1" not in page
    french = client.get("/shipments/report", headers={"Accept-Language": "fr"})
    assert "Envois par statut" in french.get_data(as_text=True)


def test_the_proof_of_delivery_downloads_as_a_pdf_for_its_account_only(
    client: FlaskClient, postroom: Postroom, accounts: dict[str, str]
) -> None:
    from datetime import timedelta

    from postroom.core.ports import DeliveryProof, ParcelTracking, ScanEvent, ShipmentStatus
    from postroom.core.tracking.model import merge_scans

    mine = postroom.tracking.add(accounts["mine"], NUMBER, reference="ORDER-1")
    pending = postroom.tracking.add(accounts["mine"], "1Z5R89390357567127")
    theirs = postroom.tracking.add(accounts["theirs"], "3318810025")
    delivered_at = postroom.clock.now() - timedelta(hours=1)
    scan = ScanEvent(delivered_at, "DL", "Delivered", "BOSTON MA", ShipmentStatus.DELIVERED)
    parcel = ParcelTracking(NUMBER, (scan,), DeliveryProof(delivered_at, "José Núñez", "sig-1"))

    # what the worker does with a carrier's answer, straight on the store
    from postroom.core.tracking.store import ShipmentStore

    def work(uow):  # type: ignore[no-untyped-def]
        store = ShipmentStore(uow.connection)
        for shipment in (mine, theirs):
            merged = merge_scans(
                store.get(shipment.id),
                [],
                parcel.events,
                proof=parcel.proof,
                now=postroom.clock.now(),
            )
            store.add_scans(shipment.id, merged.new_scans)
            store.update(merged.shipment)
        uow.commit()

    postroom.db.run(work)
    sign_in(client, postroom, "clerk@acme.example")
    assert "Download the proof (PDF)" in client.get(f"/shipments/{mine.id}").get_data(as_text=True)
    response = client.get(f"/shipments/{mine.id}/proof.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert client.get(f"/shipments/{pending.id}/proof.pdf").status_code == 404
    assert client.get(f"/shipments/{theirs.id}/proof.pdf").status_code == 404
