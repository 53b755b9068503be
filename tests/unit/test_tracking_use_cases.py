"""The tracking use cases on in-memory fakes (no I/O): following a number, folding a
carrier's scans in, the stuck-parcel rules on a frozen clock, alerts, the hand-over to
support, and that a refused request writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from tracking_fakes import (
    FakeAccounts,
    FakeDatabase,
    FakeMessages,
    FakeShipments,
    FakeSupport,
    FakeWebhookStore,
    RecordingWebhooks,
    ScriptedCarrier,
    account,
)

from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.ports import (
    DeliveryProof,
    ParcelTracking,
    ScanEvent,
    ShipmentStatus,
    TrackingFailure,
)
from postroom.core.tracking.carriers import Carriers
from postroom.core.tracking.model import Customs, Parties, Shipment
from postroom.core.tracking.service import TrackingService

MINE = "1000000009"
OTHER = "2000000008"
NUMBER = "9400111201080805483016"
CHICAGO = timezone(timedelta(hours=-6))
S = ShipmentStatus


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def carrier() -> ScriptedCarrier:
    return ScriptedCarrier()


@pytest.fixture
def heard() -> list[tuple[str, S, S]]:
    return []


@pytest.fixture
def receiver() -> RecordingWebhooks:
    return RecordingWebhooks()


@pytest.fixture
def messages(db: FakeDatabase) -> FakeMessages:
    return FakeMessages(db)


@pytest.fixture
def tracking(
    db: FakeDatabase,
    clock: FrozenClock,
    carrier: ScriptedCarrier,
    messages: FakeMessages,
    heard: list[tuple[str, S, S]],
    receiver: RecordingWebhooks,
) -> TrackingService:
    return TrackingService(
        db,
        clock,
        Carriers(lambda: [carrier]),
        accounts=FakeAccounts({n: account(n) for n in (MINE, OTHER)}),
        messages=messages,
        trace_requests=FakeSupport(db),
        status_changed=lambda shipment, old, new: heard.append((shipment.number, old, new)),
        repository=lambda session: FakeShipments(db),
        webhooks=receiver,
        webhook_repository=lambda session: FakeWebhookStore(db),
    )


def scan(at: datetime, code: str, status: S, place: str = "CHICAGO IL") -> ScanEvent:
    return ScanEvent(at.astimezone(CHICAGO), code, f"{code} scan", place, status)


def journey(start: datetime, *steps: tuple[float, str, S, str]) -> tuple[ScanEvent, ...]:
    return tuple(scan(start + timedelta(hours=h), code, st, place) for h, code, st, place in steps)


def test_a_number_is_followed_once_normalised_with_its_carrier(
    tracking: TrackingService,
) -> None:
    first = tracking.add(MINE, "9400 1112 0108 0805 4830 16", service="Priority Mail")
    again = tracking.add(MINE, NUMBER)
    assert first.id == again.id
    assert (first.number, first.carrier, first.number_format) == (
        NUMBER,
        "scripted",
        "usps_impb_22",
    )
    assert first.status is S.PENDING
    assert tracking.list(MINE) == [first]
    assert tracking.list(OTHER) == []


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("9400111201080805483017", "bad_check_digit"),
        ("RB123456785XX", "unknown_country"),
        ("not a number", "unknown_format"),
        ("", "unknown_format"),
    ],
)
def test_a_bad_number_is_refused_and_nothing_is_written(
    tracking: TrackingService, db: FakeDatabase, number: str, code: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        tracking.add(MINE, number)
    assert caught.value.code == code
    assert db.state.shipments == {}


def test_customs_details_are_checked(tracking: TrackingService) -> None:
    customs = Customs("Books", ("4901.99",), Money.parse("45.00", "USD"))
    shipment = tracking.add(MINE, "RB123456785FR", customs=customs)
    assert shipment.customs is not None
    assert shipment.customs.hs_codes == ("490199",)
    arabic_indic = "".join(chr(0x660 + int(d)) for d in "490199")  # digits customs cannot read
    for code in ("12", arabic_indic):
        with pytest.raises(ValidationError) as caught:
            tracking.add(MINE, "EE123456785FR", customs=Customs("Books", (code,), customs.value))
        assert caught.value.code == "invalid_hs_code"


def test_another_accounts_shipment_is_not_found(tracking: TrackingService) -> None:
    mine = tracking.add(MINE, NUMBER, parties=Parties(recipient="Ann Smith"))
    for read in (tracking.get, tracking.scans, tracking.refresh):
        with pytest.raises(NotFound) as caught:
            read(OTHER, mine.id)
        assert caught.value.code == "shipment_not_found"
    with pytest.raises(NotFound):
        tracking.request_support(OTHER, mine.id, "trace", requested_by="x")


def test_scans_fold_in_once_the_status_follows_the_latest_and_plugins_hear_of_it(
    tracking: TrackingService,
    carrier: ScriptedCarrier,
    clock: FrozenClock,
    heard: list[tuple[str, S, S]],
    messages: FakeMessages,
    db: FakeDatabase,
) -> None:
    shipment = tracking.add(MINE, NUMBER, service="Priority Mail")
    start = clock.now()
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER,
        journey(
            start,
            (1, "MA", S.INFO_RECEIVED, ""),
            (5, "03", S.IN_TRANSIT, "CHICAGO IL"),
            (20, "10", S.IN_TRANSIT, "DENVER CO"),
        ),
    )
    clock.advance(timedelta(hours=21))
    report = tracking.refresh_due()
    assert (report.checked, report.changed, report.failures) == (1, 1, ())
    again = tracking.refresh(MINE, shipment.id)  # the same scans again: nothing new
    assert len(tracking.scans(MINE, shipment.id)) == 3
    assert again.status is S.IN_TRANSIT
    assert heard == [(NUMBER, S.PENDING, S.IN_TRANSIT)]
    assert tracking.scans(MINE, shipment.id)[0].occurred_at.utcoffset() == timedelta(hours=-6)
    # delivered with a proof: the customer is told, in English and French
    delivered_at = start + timedelta(hours=40)
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER,
        (
            *carrier.answers[NUMBER].events,  # type: ignore[union-attr]
            scan(delivered_at, "01", S.DELIVERED, "DENVER CO"),
        ),
        proof=DeliveryProof(delivered_at, "A SMITH", "sig-123"),
    )
    clock.advance(timedelta(hours=24))
    tracking.refresh_due()
    done = tracking.get(MINE, shipment.id)
    assert done.status is S.DELIVERED
    assert done.proof == DeliveryProof(delivered_at, "A SMITH", "sig-123")
    assert done.next_check_at is None  # a final status is never asked again
    assert [m["kind"] for m in db.state.messages] == ["tracking.status"]
    assert "fr" in db.state.messages[0]["translations"]
    assert messages.delivered == ["msg_1"]


def test_one_numbers_failure_leaves_the_others_and_is_recorded(
    tracking: TrackingService, carrier: ScriptedCarrier, clock: FrozenClock
) -> None:
    good = tracking.add(MINE, NUMBER)
    bad = tracking.add(MINE, "1Z5R89390357567127")
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER, journey(clock.now(), (1, "03", S.IN_TRANSIT, "CHICAGO IL"))
    )
    carrier.answers[bad.number] = TrackingFailure(bad.number, "carrier_timeout", "no answer")
    clock.advance(timedelta(hours=2))
    report = tracking.refresh_due()
    assert [f.code for f in report.failures] == ["carrier_timeout"]
    assert tracking.get(MINE, good.id).status is S.IN_TRANSIT
    failed = tracking.get(MINE, bad.id)
    assert (failed.status, failed.last_error) == (S.PENDING, "carrier_timeout")
    assert failed.next_check_at is not None
    assert failed.next_check_at > clock.now()


def test_a_broken_carrier_plugin_fails_its_batch_not_the_run(
    tracking: TrackingService, carrier: ScriptedCarrier, clock: FrozenClock
) -> None:
    shipment = tracking.add(MINE, NUMBER)
    carrier.broken = True
    report = tracking.refresh_due()
    assert [f.code for f in report.failures] == ["carrier_failed"]
    assert tracking.get(MINE, shipment.id).last_error == "carrier_failed"


def test_numbers_are_asked_in_batches(tracking: TrackingService, carrier: ScriptedCarrier) -> None:
    for serial in range(25):
        body = f"RR{serial:08d}"
        from postroom.core.tracking.numbers import s10_check_digit

        tracking.add(MINE, f"{body}{s10_check_digit(body[2:])}US")
    tracking.refresh_due()
    assert [len(batch) for batch in carrier.batches] == [10, 10, 5]


def _moving(tracking: TrackingService, carrier: ScriptedCarrier, clock: FrozenClock) -> Shipment:
    shipment = tracking.add(MINE, NUMBER, service="Priority Mail", auto_trace=True)
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER,
        journey(clock.now(), (1, "03", S.IN_TRANSIT, "CHICAGO IL")),
    )
    clock.advance(timedelta(hours=2))
    tracking.refresh_due()
    return shipment


def test_stuck_rules_delayed_then_lost_candidate_then_lost_with_its_automatic_trace(
    tracking: TrackingService,
    carrier: ScriptedCarrier,
    clock: FrozenClock,
    db: FakeDatabase,
    heard: list[tuple[str, S, S]],
) -> None:
    shipment = _moving(tracking, carrier, clock)
    clock.advance(timedelta(days=1))
    assert tracking.apply_rules() == 0  # within Priority Mail's norm (2 days)
    clock.advance(timedelta(days=2))
    assert tracking.apply_rules() == 1
    assert tracking.get(MINE, shipment.id).flags.delayed
    assert tracking.apply_rules() == 0  # a rerun changes nothing
    clock.advance(timedelta(days=4))
    tracking.apply_rules()
    stuck = tracking.get(MINE, shipment.id)
    assert stuck.flags.lost_candidate
    assert stuck.status is S.IN_TRANSIT
    assert [m["kind"] for m in db.state.messages] == ["tracking.stuck"]
    clock.advance(timedelta(days=3))
    tracking.apply_rules()
    lost = tracking.get(MINE, shipment.id)
    assert lost.status is S.LOST
    assert lost.trace_reference == "CASE-1"
    assert db.state.handed_over[0][1].requested_by == "rules"
    assert heard[-1] == (NUMBER, S.IN_TRANSIT, S.LOST)
    assert tracking.apply_rules() == 0
    assert len(db.state.handed_over) == 1
    # a later scan revives it: movement clears the flags
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER,
        (
            *carrier.answers[NUMBER].events,  # type: ignore[union-attr]
            scan(clock.now(), "07", S.OUT_FOR_DELIVERY, "DENVER CO"),
        ),
    )
    clock.advance(timedelta(days=1))
    tracking.refresh_due()
    revived = tracking.get(MINE, shipment.id)
    assert revived.status is S.OUT_FOR_DELIVERY
    assert not revived.flags.lost_candidate
    assert not revived.flags.delayed


def test_no_information_for_30_days_expires(tracking: TrackingService, clock: FrozenClock) -> None:
    shipment = tracking.add(MINE, NUMBER)
    clock.advance(timedelta(days=29))
    tracking.apply_rules()
    assert tracking.get(MINE, shipment.id).status is S.PENDING
    clock.advance(timedelta(days=1))
    tracking.apply_rules()
    expired = tracking.get(MINE, shipment.id)
    assert expired.status is S.EXPIRED
    assert expired.next_check_at is None


def test_a_scan_back_at_a_place_already_left_flags_a_misroute(
    tracking: TrackingService, carrier: ScriptedCarrier, clock: FrozenClock
) -> None:
    shipment = tracking.add(MINE, NUMBER)
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER,
        journey(
            clock.now(),
            (1, "03", S.IN_TRANSIT, "CHICAGO IL"),
            (9, "10", S.IN_TRANSIT, "MEMPHIS TN"),
            (20, "10", S.IN_TRANSIT, "CHICAGO IL"),
        ),
    )
    clock.advance(timedelta(days=1))
    tracking.refresh_due()
    assert tracking.get(MINE, shipment.id).flags.misrouted


def test_support_requests_are_handed_over_with_a_reference(
    tracking: TrackingService, db: FakeDatabase
) -> None:
    shipment = tracking.add(MINE, NUMBER)
    reference = tracking.request_support(
        MINE, shipment.id, "trace", note="Customer waiting", requested_by="ann@example.com"
    )
    assert reference == "CASE-1"
    assert tracking.get(MINE, shipment.id).trace_reference == "CASE-1"
    with pytest.raises(ValidationError) as caught:
        tracking.request_support(MINE, shipment.id, "teleport", requested_by="ann")
    assert caught.value.code == "invalid_request_kind"
    with pytest.raises(ValidationError) as caught:
        tracking.request_support(MINE, shipment.id, "trace", note="\x00", requested_by="ann")
    assert caught.value.code == "control_character"
    assert len(db.state.handed_over) == 1


def test_a_delivered_parcel_can_only_be_reported_lost(
    tracking: TrackingService, carrier: ScriptedCarrier, clock: FrozenClock
) -> None:
    shipment = tracking.add(MINE, NUMBER)
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER, journey(clock.now(), (1, "01", S.DELIVERED, "DENVER CO"))
    )
    clock.advance(timedelta(hours=2))
    tracking.refresh_due()
    with pytest.raises(ValidationError) as caught:
        tracking.request_support(MINE, shipment.id, "reroute", requested_by="ann")
    assert caught.value.code == "request_not_allowed"
    assert tracking.request_support(MINE, shipment.id, "lost", requested_by="ann")


def test_public_lookup_shows_status_and_scans_only(
    tracking: TrackingService, carrier: ScriptedCarrier, clock: FrozenClock
) -> None:
    tracking.add(MINE, NUMBER, parties=Parties("Acme", "Ann Smith", "Chicago", "Denver"))
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER, journey(clock.now(), (1, "03", S.IN_TRANSIT, "CHICAGO IL"))
    )
    clock.advance(timedelta(hours=2))
    tracking.refresh_due()
    public = tracking.lookup("9400 1112 0108 0805 4830 16")
    assert public.status is S.IN_TRANSIT
    assert len(public.scans) == 1
    assert not hasattr(public, "parties")
    assert tracking.status_of(NUMBER) is S.IN_TRANSIT
    with pytest.raises(NotFound):
        tracking.lookup("1Z5R89390357567127")


def test_report_counts_statuses_and_the_on_time_rate(
    tracking: TrackingService, carrier: ScriptedCarrier, clock: FrozenClock
) -> None:
    on_time = tracking.add(MINE, NUMBER, service="Priority Mail", mailed_on=date(2026, 3, 2))
    late = tracking.add(
        MINE, "1Z5R89390357567127", service="UPS Ground", mailed_on=date(2026, 2, 1)
    )
    tracking.add(MINE, "RB123456785US")
    for shipment in (on_time, late):
        carrier.answers[shipment.number] = ParcelTracking(
            shipment.number, journey(clock.now(), (30, "01", S.DELIVERED, "DENVER CO"))
        )
    clock.advance(timedelta(days=2))
    tracking.refresh_due()
    report = tracking.report(MINE)
    assert report.counts == {S.DELIVERED: 2, S.PENDING: 1}
    assert report.on_time_rate == 0.5


def test_identify_is_capped(tracking: TrackingService) -> None:
    assert [i.valid for i in tracking.identify(["3318810025", "x"])] == [True, False]
    with pytest.raises(ValidationError):
        tracking.identify(["1"] * 1001)


def test_scan_events_need_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        ScanEvent(datetime(2026, 1, 1), "01", "x", "y", S.DELIVERED)
    assert ScanEvent(datetime(2026, 1, 1, tzinfo=UTC), "01", "x", "y", S.DELIVERED)


def test_a_bulk_import_adds_valid_rows_reports_bad_ones_and_is_idempotent(
    tracking: TrackingService, db: FakeDatabase
) -> None:
    from postroom.core.tracking.bulk import read_rows

    lines = [
        "number,reference,value,contents",
        f"{NUMBER},A,,",
        "9400111201080805483017,B,,",
        "RB123456785FR,C,12.00 EUR,Books",
        "1Z5R89390357567127,D,,",
    ]
    seen: list[int] = []
    report = tracking.import_rows(MINE, read_rows(lines), progress=seen.append, batch=2)
    assert (report.added, report.already) == (3, 0)
    assert [(e.line, e.code) for e in report.errors] == [(3, "bad_check_digit")]
    assert seen[-1] == 4
    again = tracking.import_rows(MINE, read_rows(lines))
    assert (again.added, again.already) == (0, 3)
    assert len(db.state.shipments) == 3


def test_a_webhook_gets_each_status_change_signed_and_is_retried_with_backoff(
    tracking: TrackingService,
    carrier: ScriptedCarrier,
    clock: FrozenClock,
    receiver: RecordingWebhooks,
    db: FakeDatabase,
) -> None:
    import hashlib
    import hmac
    import json

    shipment = tracking.add(MINE, NUMBER)
    subscription = tracking.subscribe(
        MINE, "https://hooks.example.com/postroom", shipment_id=shipment.id
    )
    assert len(subscription.secret) == 64
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER, journey(clock.now(), (1, "03", S.IN_TRANSIT, "CHICAGO IL"))
    )
    clock.advance(timedelta(hours=2))
    tracking.refresh_due()
    receiver.answers = [500, ConnectionError("reset")]
    assert tracking.deliver_webhooks() == 0  # 500: tried again in a minute
    clock.advance(timedelta(seconds=59))
    assert tracking.deliver_webhooks() == 0  # not due yet
    clock.advance(timedelta(seconds=1))
    assert tracking.deliver_webhooks() == 0  # connection reset: two minutes
    clock.advance(timedelta(minutes=2))
    assert tracking.deliver_webhooks() == 1
    assert tracking.deliver_webhooks() == 0  # delivered once
    _url, body, headers = receiver.received[-1]
    event = json.loads(body)
    assert (event["old_status"], event["status"], event["number"]) == (
        "pending",
        "in_transit",
        NUMBER,
    )
    stamp, mac = (part.split("=", 1)[1] for part in headers["Postroom-Signature"].split(","))
    expected = hmac.new(subscription.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    assert mac == expected.hexdigest()
    assert int(stamp) == int(clock.now().timestamp())
    log = tracking.webhook_log(MINE)
    assert [(d.status, d.attempts, d.last_result) for d in log] == [("delivered", 3, "200")]


def test_a_webhook_url_that_reaches_inside_is_refused(tracking: TrackingService) -> None:
    from postroom.core.tracking.webhooks import address_allowed, check_url

    for url, code in [
        ("http://localhost:8000/hook", "webhook_address_refused"),
        ("http://169.254.169.254/latest/meta-data", "webhook_address_refused"),
        ("ftp://example.com/x", "invalid_webhook_url"),
        ("https://user:pw@example.com/x", "invalid_webhook_url"),
    ]:
        with pytest.raises(ValidationError) as caught:
            tracking.subscribe(MINE, url)
        assert caught.value.code == code
    with pytest.raises(ValidationError) as plain:
        check_url("http://example.com/x", production=True)
    assert plain.value.code == "webhook_not_https"
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fe80::1",
                    "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1"):  # fmt: skip
        assert not address_allowed(address, allow_private=False), address
    assert address_allowed("93.184.216.34", allow_private=False)
    assert address_allowed("127.0.0.1", allow_private=True)
    assert not address_allowed("169.254.169.254", allow_private=True)  # never the metadata
    assert tracking.subscriptions(MINE) == []


def test_a_webhook_is_given_up_after_its_attempts(
    tracking: TrackingService,
    carrier: ScriptedCarrier,
    clock: FrozenClock,
    receiver: RecordingWebhooks,
) -> None:
    from postroom.core.tracking.webhooks import MAX_ATTEMPTS

    tracking.add(MINE, NUMBER)
    tracking.subscribe(MINE, "https://hooks.example.com/all")
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER, journey(clock.now(), (1, "03", S.IN_TRANSIT, "CHICAGO IL"))
    )
    clock.advance(timedelta(hours=2))
    tracking.refresh_due()
    receiver.answers = [503] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS):
        tracking.deliver_webhooks()
        clock.advance(timedelta(hours=7))
    [delivery] = tracking.webhook_log(MINE)
    assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)


def test_a_subscription_is_told_only_of_the_statuses_it_chose(
    tracking: TrackingService,
    carrier: ScriptedCarrier,
    clock: FrozenClock,
    receiver: RecordingWebhooks,
) -> None:
    import json

    tracking.add(MINE, NUMBER)
    delivered = tracking.subscribe(
        MINE, "https://hooks.example.com/delivered", events=["delivered"]
    )
    every = tracking.subscribe(MINE, "https://hooks.example.com/all", events=[])
    assert (delivered.events, every.events) == (frozenset({S.DELIVERED}), frozenset())
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER, journey(clock.now(), (1, "03", S.IN_TRANSIT, "CHICAGO IL"))
    )
    clock.advance(timedelta(hours=2))
    tracking.refresh_due()
    carrier.answers[NUMBER] = ParcelTracking(
        NUMBER,
        journey(
            clock.now() - timedelta(hours=2),
            (1, "03", S.IN_TRANSIT, "CHICAGO IL"),
            (3, "01", S.DELIVERED, "BOSTON MA"),
        ),
    )
    clock.advance(timedelta(hours=5))
    tracking.refresh_due()
    assert tracking.deliver_webhooks() == 3
    told = sorted((url, json.loads(body)["status"]) for url, body, _ in receiver.received)
    assert told == [
        ("https://hooks.example.com/all", "delivered"),
        ("https://hooks.example.com/all", "in_transit"),
        ("https://hooks.example.com/delivered", "delivered"),
    ]
    for events in (["shipped"], "delivered", [1]):
        with pytest.raises(ValidationError) as caught:
            tracking.subscribe(MINE, "https://hooks.example.com/x", events=events)  # type: ignore[arg-type]
        assert caught.value.code in ("invalid_status", "invalid_events")
    assert tracking.subscription(MINE, delivered.id) == delivered
    with pytest.raises(NotFound):
        tracking.subscription(OTHER, delivered.id)
