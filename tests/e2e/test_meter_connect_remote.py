"""A simulated meter syncs with a real `postroom serve --demo` process over HTTP."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from postroom.hal.meter.connect import run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.remote import RemoteDataCenter
from postroom.hal.meter.simulator import MeterSimulator


def test_the_demo_meter_syncs_with_the_demo_server(
    demo_site, demo_template, tmp_path: Path
) -> None:
    facts = demo_template.facts  # what the demo printed when it was loaded
    meter_key = facts["demo meter API key"]
    api_key = facts["demo API key"]
    reset_key = re.search(r"--reset-key ([0-9a-f]{64})", facts["demo meter"])
    assert reset_key, facts
    remote = RemoteDataCenter(demo_site.base, meter_key)
    with MeterSimulator(
        tmp_path / "psd", "PR-DEMO-0001", meter_key=bytes.fromhex(reset_key.group(1))
    ) as sim:
        with MeterClient.open(sim.path) as meter:
            first = run_sync(meter, remote).summary
        # the demo's first refill reaches the device at its first sync: the views agree
        assert len(first.tokens_applied) == 1
        assert first.reconciled is True
        assert first.alerts == ()
        assert "rates" in first.installed
        assert sim.psd.state["descending"] == 100_000

        # the customer refills through the API; the next sync brings the funds
        request = urllib.request.Request(
            f"{demo_site.base}/api/v1/vault/meters/PR-DEMO-0001/refills",
            data=json.dumps(
                {"id": "e2e-refill", "amount": {"amount": "7.50", "currency": "USD"}}
            ).encode(),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        with MeterClient.open(sim.path) as meter:
            second = run_sync(meter, remote).summary
        assert len(second.tokens_applied) == 1
        assert sim.psd.state["descending"] == 107_500

        # pieces printed between syncs reach the server, which acknowledges them over
        # HTTP: the device then drops them from its log
        for n in range(2):
            printed = sim.psd.handle(
                {
                    "cmd": "print",
                    "rid": f"e2e-{n}",
                    "mills": 730,
                    "currency": "USD",
                    "rate_digest": sim.psd.state["rate_digest"],
                    "service": "first-class-letter",
                    "date": sim.psd.clock.now().date().isoformat(),
                    "origin_zip": "12345",
                }
            )
            assert printed["ok"], printed
        with MeterClient.open(sim.path) as meter:
            third = run_sync(meter, remote)
        assert third.complete
        assert (third.summary.pieces_uploaded, third.summary.acknowledged) == (2, 2)
        assert sim.psd.log == []
        assert sim.psd.state["log_acked"] == 2
