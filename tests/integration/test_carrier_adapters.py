"""The USPS, UPS, La Poste, Canada Post, FedEx and DHL adapters against a real HTTP server on
loopback that answers documents in the shapes of those APIs' public documentation:
OAuth, the requests' shapes, statuses mapped, time zones kept, proof of delivery, and
per-number errors for timeouts, 500s, 429s, garbage and unknown numbers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from carrier_server import CarrierServer, Reply, carrier_server, document

from postroom.core.config import Config
from postroom.core.ports import ParcelTracking, ShipmentStatus, TrackingFailure
from postroom.plugins import canadapost, dhl, fedex, laposte, ups, usps
from postroom.plugins.canadapost.tracking import CanadaPostTracking
from postroom.plugins.carrier_http import CarrierHttp
from postroom.plugins.dhl.tracking import DhlTracking
from postroom.plugins.fedex.tracking import FedexTracking
from postroom.plugins.laposte.tracking import LaPosteTracking
from postroom.plugins.ups.tracking import UpsTracking
from postroom.plugins.usps.tracking import UspsTracking

S = ShipmentStatus
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
TOKEN = json.dumps({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3599}).encode()
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server() -> Iterator[CarrierServer]:
    with carrier_server() as running:
        yield running


@pytest.fixture
def waits() -> list[float]:
    return []


def http(server: CarrierServer, waits: list[float], timeout: float = 5.0) -> CarrierHttp:
    return CarrierHttp(server.url, timeout=timeout, sleep=waits.append)


def tracked(answer: ParcelTracking | TrackingFailure) -> ParcelTracking:
    assert isinstance(answer, ParcelTracking), answer
    return answer


def failed(answer: ParcelTracking | TrackingFailure) -> str:
    assert isinstance(answer, TrackingFailure), answer
    return answer.code


def test_usps_oauth_then_details_with_statuses_zones_and_signer(
    server: CarrierServer, waits: list[float]
) -> None:
    number, unknown = "9400111201080805483016", "9405803699300124287899"
    server.queue("/oauth2/v3/token", Reply(200, TOKEN, JSON))
    server.queue(f"/tracking/v3/tracking/{number}", Reply(200, document("usps_details.json"), JSON))
    server.queue(f"/tracking/v3/tracking/{unknown}", Reply(404, document("usps_not_found.json")))
    carrier = UspsTracking(http(server, waits), "client-id", "client-secret")
    answers = carrier.track([number, unknown], now=NOW)
    parcel = tracked(answers[number])
    assert [e.status for e in parcel.events] == [
        S.DELIVERED, S.OUT_FOR_DELIVERY, S.IN_TRANSIT, S.IN_TRANSIT, S.INFO_RECEIVED,
    ]  # fmt: skip
    delivered = parcel.events[0]
    assert delivered.occurred_at.isoformat() == "2026-03-05T12:55:00-05:00"
    assert delivered.location == "FALMOUTH MA 02540"
    assert parcel.proof is not None
    assert parcel.proof.signed_by == "J DOE"
    assert failed(answers[unknown]) == "not_found"
    token_request = server.received[0]
    assert json.loads(token_request.body)["grant_type"] == "client_credentials"
    assert server.received[1].headers["authorization"] == "Bearer tok-1"
    assert "expand=DETAIL" in server.received[1].path
    # the token is kept until it expires: the next call asks no new one
    server.queue(f"/tracking/v3/tracking/{number}", Reply(200, document("usps_details.json"), JSON))
    carrier.track([number], now=NOW + timedelta(minutes=5))
    assert server.paths().count("/oauth2/v3/token") == 1


def test_usps_retries_a_500_then_answers_and_reports_the_rest(
    server: CarrierServer, waits: list[float]
) -> None:
    number = "9400111201080805483016"
    server.queue("/oauth2/v3/token", Reply(200, TOKEN, JSON))
    server.queue(
        f"/tracking/v3/tracking/{number}",
        Reply(500, b"oops"),
        Reply(429, b"", {"Retry-After": "7"}),
        Reply(200, document("usps_details.json"), JSON),
    )
    answers = UspsTracking(http(server, waits), "id", "secret").track([number], now=NOW)
    assert tracked(answers[number]).events
    assert waits == [0.5, 7.0, 1.0]  # backoff, Retry-After, backoff


def test_ups_basic_auth_token_headers_and_activity(
    server: CarrierServer, waits: list[float]
) -> None:
    number, unknown = "1Z5R89390357567127", "1Z879E930346834440"
    server.queue("/security/v1/oauth/token", Reply(200, TOKEN, JSON))
    server.queue(f"/api/track/v1/details/{number}", Reply(200, document("ups_details.json"), JSON))
    server.queue(
        f"/api/track/v1/details/{unknown}", Reply(200, document("ups_not_found.json"), JSON)
    )
    answers = UpsTracking(http(server, waits), "ups-id", "ups-secret").track(
        [number, unknown], now=NOW
    )
    parcel = tracked(answers[number])
    assert parcel.service == "UPS Ground"
    assert next(e.status for e in parcel.events) is S.DELIVERED
    assert parcel.events[-1].status is S.INFO_RECEIVED
    assert parcel.events[0].occurred_at.isoformat() == "2026-03-04T14:35:12-07:00"
    assert parcel.events[0].location == "Denver CO US"
    assert parcel.proof is not None
    assert (parcel.proof.signed_by, parcel.proof.reference) == ("SMITH", "ups-signature")
    assert failed(answers[unknown]) == "not_found"
    token = server.received[0]
    assert (
        token.headers["authorization"] == "Basic " + base64.b64encode(b"ups-id:ups-secret").decode()
    )
    assert token.body == b"grant_type=client_credentials"
    track = server.received[1]
    assert track.headers["transactionsrc"] == "postroom"
    assert track.headers["transid"]


def test_ups_a_refused_token_is_a_clear_error_per_number(
    server: CarrierServer, waits: list[float]
) -> None:
    server.queue("/security/v1/oauth/token", Reply(401, b'{"response":{"errors":[]}}', JSON))
    answers = UpsTracking(http(server, waits), "id", "bad").track(["1Z5R89390357567127"], now=NOW)
    assert failed(answers["1Z5R89390357567127"]) == "carrier_auth_failed"


def test_la_poste_batches_numbers_and_maps_each_answer(
    server: CarrierServer, waits: list[float]
) -> None:
    delivered, unknown = "EE123456785FR", "RB123456785FR"
    server.queue(
        f"/suivi/v2/idships/{delivered},{unknown}", Reply(200, document("laposte_batch.json"), JSON)
    )
    answers = LaPosteTracking(http(server, waits), "okapi-key").track([delivered, unknown], now=NOW)
    parcel = tracked(answers[delivered])
    assert [e.code for e in parcel.events] == ["DI1", "MD2", "DO2", "DO1", "PC1"]
    assert parcel.events[0].status is S.DELIVERED
    assert parcel.events[0].occurred_at.utcoffset() == timedelta(hours=1)
    assert failed(answers[unknown]) == "not_found"
    assert server.received[0].headers["x-okapi-key"] == "okapi-key"


def test_canada_post_xml_detail_with_zones_and_signature(
    server: CarrierServer, waits: list[float]
) -> None:
    number, unknown = "RR123456785CA", "EE123456785CA"
    server.queue(f"/vis/track/pin/{number}/detail", Reply(200, document("canadapost_detail.xml")))
    server.queue(
        f"/vis/track/pin/{unknown}/detail", Reply(404, document("canadapost_not_found.xml"))
    )
    answers = CanadaPostTracking(http(server, waits), "user", "pass").track(
        [number, unknown], now=NOW
    )
    parcel = tracked(answers[number])
    assert [e.status for e in parcel.events] == [S.DELIVERED, S.OUT_FOR_DELIVERY, S.IN_TRANSIT]
    assert parcel.events[0].occurred_at.isoformat() == "2026-03-05T10:21:00-05:00"
    assert parcel.events[2].occurred_at.utcoffset() == timedelta(hours=-8)
    assert parcel.proof is not None
    assert parcel.proof.signed_by == "M TREMBLAY"
    assert failed(answers[unknown]) == "not_found"
    assert server.received[0].headers["accept"] == "application/vnd.cpc.track-v2+xml"


@pytest.mark.parametrize(
    ("replies", "code"),
    [
        ([Reply(500, b"down")] * 3, "carrier_unavailable"),
        ([Reply(429, b"", {"Retry-After": "120"})] * 3, "carrier_rate_limited"),
        ([Reply(200, b"<html>maintenance</html>", JSON)], "carrier_bad_answer"),
        ([Reply(200, b'[{"returnCode": 200, "shipment": {"idShip": "x"}}]', JSON)],
         "carrier_bad_answer"),
    ],
)  # fmt: skip
def test_la_poste_failures_are_per_number_codes(
    server: CarrierServer, waits: list[float], replies: list[Reply], code: str
) -> None:
    number = "EE123456785FR"
    server.queue(f"/suivi/v2/idships/{number}", *replies)
    answers = LaPosteTracking(http(server, waits), "key").track([number], now=NOW)
    assert failed(answers[number]) == code
    assert all(wait <= 30 for wait in waits)  # a Retry-After is capped


def test_a_carrier_that_does_not_answer_in_time_is_a_timeout(
    server: CarrierServer, waits: list[float]
) -> None:
    number = "EE123456785FR"
    server.queue(f"/suivi/v2/idships/{number}", *[Reply(200, b"{}", JSON, delay=5)] * 3)
    carrier = LaPosteTracking(http(server, waits, timeout=0.2), "key")
    assert failed(carrier.track([number], now=NOW)[number]) == "carrier_timeout"


def test_canada_post_refuses_a_doctype(server: CarrierServer, waits: list[float]) -> None:
    number = "RR123456785CA"
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        b"<tracking-detail>&a;</tracking-detail>"
    )
    server.queue(f"/vis/track/pin/{number}/detail", Reply(200, bomb))
    answers = CanadaPostTracking(http(server, waits), "u", "p").track([number], now=NOW)
    assert failed(answers[number]) == "carrier_bad_answer"


def test_carriers_register_only_with_their_credentials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bare = Config.load({}, data_dir=tmp_path)
    modules = (usps, ups, laposte, canadapost, fedex, dhl)
    assert [m.register_carriers(config=bare) for m in modules] == [[]] * len(modules)
    configured = Config.load(
        {
            "POSTROOM_USPS_CLIENT_ID": "a", "POSTROOM_USPS_CLIENT_SECRET": "b",
            "POSTROOM_UPS_CLIENT_ID": "c", "POSTROOM_UPS_CLIENT_SECRET": "d",
            "POSTROOM_LAPOSTE_API_KEY": "e",
            "POSTROOM_CANADAPOST_USERNAME": "f", "POSTROOM_CANADAPOST_PASSWORD": "g",
            "POSTROOM_FEDEX_CLIENT_ID": "h", "POSTROOM_FEDEX_CLIENT_SECRET": "i",
            "POSTROOM_DHL_API_KEY": "j",
        },
        data_dir=tmp_path,
    )  # fmt: skip
    codes = [c.code for m in modules for c in m.register_carriers(config=configured)]
    assert codes == ["usps", "ups", "laposte", "canadapost", "fedex", "dhl"]
    assert "secret" not in repr(configured.usps_client_secret and configured)
    assert "'b'" not in repr(configured)


def test_fedex_oauth_form_then_one_batch_with_statuses_zones_proof_and_unknowns(
    server: CarrierServer, waits: list[float]
) -> None:
    number, unknown = "123456789012", "123456789023"
    server.queue("/oauth/token", Reply(200, TOKEN, JSON))
    server.queue("/track/v1/trackingnumbers", Reply(200, document("fedex_track.json"), JSON))
    answers = FedexTracking(http(server, waits), "fx-id", "fx-secret").track(
        [number, unknown], now=NOW
    )
    parcel = tracked(answers[number])
    assert [e.status for e in parcel.events] == [
        S.DELIVERED, S.OUT_FOR_DELIVERY, S.DELIVERY_ATTEMPTED, S.IN_TRANSIT, S.IN_TRANSIT,
        S.INFO_RECEIVED,
    ]  # fmt: skip
    assert parcel.events[0].occurred_at.isoformat() == "2026-03-05T14:12:00-06:00"
    assert parcel.events[3].location == "MEMPHIS TN US"
    assert parcel.service == "FedEx Ground"
    assert parcel.proof is not None
    assert (parcel.proof.signed_by, parcel.proof.reference) == ("M.GARCIA", "fedex-signature")
    assert failed(answers[unknown]) == "not_found"
    token, track = server.received
    assert dict(x.split("=") for x in token.body.decode().split("&")) == {
        "grant_type": "client_credentials", "client_id": "fx-id", "client_secret": "fx-secret",
    }  # fmt: skip
    assert track.headers["authorization"] == "Bearer tok-1"
    sent = json.loads(track.body)
    assert sent["includeDetailedScans"] is True
    assert [i["trackingNumberInfo"]["trackingNumber"] for i in sent["trackingInfo"]] == [
        number, unknown,
    ]  # fmt: skip


def test_fedex_refused_credentials_and_rate_limits_are_codes_per_number(
    server: CarrierServer, waits: list[float]
) -> None:
    numbers = ["123456789012", "123456789034"]
    server.queue("/oauth/token", Reply(401, document("fedex_unauthorized.json"), JSON))
    refused = FedexTracking(http(server, waits), "id", "wrong").track(numbers, now=NOW)
    assert {failed(a) for a in refused.values()} == {"carrier_auth_failed"}
    server.queue("/oauth/token", Reply(200, TOKEN, JSON))
    server.queue("/track/v1/trackingnumbers", *[Reply(429, b"", {"Retry-After": "2"})] * 3)
    limited = FedexTracking(http(server, waits), "id", "secret").track(numbers, now=NOW)
    assert [failed(limited[n]) for n in numbers] == ["carrier_rate_limited"] * 2
    server.queue("/oauth/token", Reply(200, TOKEN, JSON))
    server.queue("/track/v1/trackingnumbers", Reply(200, b"<html>maintenance</html>"))
    garbled = FedexTracking(http(server, waits), "id", "secret").track(numbers, now=NOW)
    assert {failed(a) for a in garbled.values()} == {"carrier_bad_answer"}


def test_dhl_express_by_api_key_with_finer_statuses_zones_and_proof(
    server: CarrierServer, waits: list[float]
) -> None:
    number, unknown = "3318810025", "3318810033"
    server.queue("/track/shipments", Reply(200, document("dhl_shipment.json"), JSON))
    server.queue("/track/shipments", Reply(404, document("dhl_not_found.json"), JSON))
    answers = DhlTracking(http(server, waits), "dhl-key").track([number, unknown], now=NOW)
    parcel = tracked(answers[number])
    assert [e.status for e in parcel.events] == [
        S.DELIVERED, S.OUT_FOR_DELIVERY, S.DELIVERY_ATTEMPTED, S.IN_TRANSIT, S.IN_TRANSIT,
        S.INFO_RECEIVED,
    ]  # fmt: skip
    assert parcel.events[4].occurred_at.isoformat() == "2026-03-02T18:05:00+01:00"
    assert parcel.events[3].occurred_at.tzinfo is UTC  # an Express scan without an offset
    assert parcel.events[0].location == "CHICAGO, IL - USA"
    assert parcel.service == "EXPRESS WORLDWIDE"
    assert parcel.proof is not None
    assert (parcel.proof.signed_by, parcel.proof.reference) == ("K LEE", "dhl-signature")
    assert failed(answers[unknown]) == "not_found"
    first = server.received[0]
    assert first.headers["dhl-api-key"] == "dhl-key"
    assert f"trackingNumber={number}" in first.path
    assert "service=express" in first.path


def test_dhl_a_bad_key_and_a_rate_limit_are_codes_and_the_batch_goes_on(
    server: CarrierServer, waits: list[float]
) -> None:
    numbers = ["3318810025", "3318810033"]
    server.queue("/track/shipments", Reply(401, document("dhl_unauthorized.json"), JSON))
    server.queue("/track/shipments", Reply(200, document("dhl_shipment.json"), JSON))
    answers = DhlTracking(http(server, waits), "wrong").track(numbers, now=NOW)
    assert failed(answers[numbers[0]]) == "carrier_auth_failed"
    assert failed(answers[numbers[1]]) == "not_found"  # the document names another number
    server.queue("/track/shipments", *[Reply(429, b"", {"Retry-After": "60"})] * 3)
    limited = DhlTracking(http(server, waits), "key").track(numbers[:1], now=NOW)
    assert failed(limited[numbers[0]]) == "carrier_rate_limited"
    assert max(waits) == 30.0  # Retry-After 60, waited at most 30 s
