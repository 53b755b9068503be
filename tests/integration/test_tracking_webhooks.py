"""Tracking webhooks on the real store and over real HTTP to a receiver on loopback
(allowed here by ``webhooks_allow_private``): the status change arrives signed, a 500 is
tried again, and a receiver on loopback is refused when the setting is off."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from carrier_server import CarrierServer, Reply, carrier_server

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.errors import ValidationError


@pytest.fixture
def receiver() -> Iterator[CarrierServer]:
    with carrier_server() as running:
        yield running


def open_postroom(
    database_url: str, data_dir: Path, clock: FrozenClock, *, allow: bool
) -> Postroom:
    config = Config.load(
        {}, data_dir=data_dir, database_url=database_url, secret_key="test-secret",
        webhooks_allow_private=allow,
    )  # fmt: skip
    return Postroom.open(config=config, clock=clock, migrate_schema=True)


def test_a_status_change_reaches_the_receiver_signed_after_a_retry(
    database_url: str, data_dir: Path, clock: FrozenClock, receiver: CarrierServer
) -> None:
    with open_postroom(database_url, data_dir, clock, allow=True) as pr:
        account = pr.accounts.create("Acme", "US", "USD").number
        shipment = pr.tracking.add(account, "9400111201080805483016")
        subscription = pr.tracking.subscribe(account, f"{receiver.url}/hooks")
        receiver.queue("/hooks", Reply(500, b"down"), Reply(204))
        clock.advance(timedelta(days=2))
        pr.tracking.refresh(account, shipment.id)  # the sandbox's first scans: a change
        assert pr.tracking.deliver_webhooks() == 0
        clock.advance(timedelta(minutes=1))
        assert pr.tracking.deliver_webhooks() == 1
        got = receiver.received[-1]
        stamp, mac = (p.split("=", 1)[1] for p in got.headers["postroom-signature"].split(","))
        expected = hmac.new(
            subscription.secret.encode(), f"{stamp}.".encode() + got.body, hashlib.sha256
        )
        assert mac == expected.hexdigest()
        assert json.loads(got.body)["number"] == "9400111201080805483016"
        [delivery] = pr.tracking.webhook_log(account)
        assert (delivery.status, delivery.attempts, delivery.last_result) == ("delivered", 2, "204")


def test_a_loopback_receiver_is_refused_without_the_setting(
    database_url: str, data_dir: Path, clock: FrozenClock, receiver: CarrierServer
) -> None:
    with open_postroom(database_url, data_dir, clock, allow=False) as pr:
        account = pr.accounts.create("Acme", "US", "USD").number
        with pytest.raises(ValidationError) as caught:
            pr.tracking.subscribe(account, f"{receiver.url}/hooks")
        assert caught.value.code == "webhook_address_refused"
        assert pr.tracking.subscriptions(account) == []
