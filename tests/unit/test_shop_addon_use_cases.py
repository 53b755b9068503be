"""Meter add-ons and ad slogans on in-memory fakes (no I/O): an add-on is invoiced once
and queued for the meter; a library slogan goes at once; an upload is checked by content
and waits for staff, who approve it (queued as the ad-slogan graphic) or reject it."""

from __future__ import annotations

import io

import pytest
from contracts_fakes import FakeAccounts, account
from fakes_shop import FakeAddonRepository, FakeCharges, FakeCustomerMeters, FakeMeterAssets
from fakes_transactions import FakeDatabase
from PIL import Image

from postroom.core.clock import FrozenClock
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.shop.addon_service import AddonsService
from postroom.core.shop.addons import PurchaseStatus, SloganStatus

MINE = "1000000009"
OTHER = "2000000008"


def png(width: int = 600, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, format="PNG")
    return out.getvalue()


SVG = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200" viewBox="0 0 600 200">
  <metadata><rdf xmlns="urn:x">editor</rdf></metadata>
  <rect width="600" height="200" fill="url(#g)"/>
  <text x="10" y="100" font-size="40">Acme <tspan fill="red">mail</tspan></text>
</svg>"""


@pytest.fixture
def assets() -> FakeMeterAssets:
    return FakeMeterAssets()


@pytest.fixture
def charges() -> FakeCharges:
    return FakeCharges()


@pytest.fixture
def repo() -> FakeAddonRepository:
    return FakeAddonRepository()


@pytest.fixture
def addons(
    repo: FakeAddonRepository, charges: FakeCharges, assets: FakeMeterAssets
) -> AddonsService:
    meters = FakeCustomerMeters()
    meters.add(MINE, "PR-MINE-1")
    meters.add(OTHER, "PR-OTHER-1")
    return AddonsService(
        FakeDatabase(repo, charges),
        FrozenClock.at("2026-03-02T09:30:00+00:00"),
        accounts=FakeAccounts({MINE: account(MINE), OTHER: account(OTHER)}),
        meters=meters,
        charges=charges,
        assets=assets,
        repository=repo,
    )


def test_an_addon_is_invoiced_once_and_queued_for_the_meter(
    addons: AddonsService, charges: FakeCharges, assets: FakeMeterAssets
) -> None:
    bought = addons.buy(MINE, "pr-mine-1", "dept-accounting")
    assert bought.status is PurchaseStatus.QUEUED
    assert bought.price == Money.of("149.00", "USD")
    assert assets.features == {"PR-MINE-1": {"department_accounting"}}
    again = addons.buy(MINE, "PR-MINE-1", "DEPT-ACCOUNTING")
    assert again.replayed
    assert again.invoice_number == bought.invoice_number
    assert len(charges.invoices) == 1
    offer = {o.addon.code: o for o in addons.offer(MINE)}
    assert offer["DEPT-ACCOUNTING"].owned_on == ("PR-MINE-1",)
    assert offer["WEIGH-30KG"].owned_on == ()


def test_an_addon_for_another_accounts_meter_or_an_unknown_one_is_refused(
    addons: AddonsService, charges: FakeCharges, assets: FakeMeterAssets
) -> None:
    with pytest.raises(NotFound):
        addons.buy(MINE, "PR-OTHER-1", "WEIGH-30KG")
    with pytest.raises(ValidationError) as caught:
        addons.buy(MINE, "PR-MINE-1", "FREE-POSTAGE")
    assert caught.value.code == "unknown_addon"
    assert charges.invoices == {}
    assert assets.features == {}


def test_a_library_slogan_goes_to_the_meter_at_once(
    addons: AddonsService, assets: FakeMeterAssets
) -> None:
    order = addons.choose_slogan(MINE, "PR-MINE-1", "recycle", "fr")
    assert order.status is SloganStatus.QUEUED
    assert assets.slogan_texts == {"PR-MINE-1": "Recyclez cette enveloppe"}
    assert [o.number for o in addons.slogans(MINE)] == [order.number]
    assert addons.slogans(OTHER) == []
    with pytest.raises(NotFound):
        addons.slogan(OTHER, order.number)


def test_an_upload_waits_for_staff_then_goes_as_a_graphic(
    addons: AddonsService, assets: FakeMeterAssets
) -> None:
    order = addons.upload_slogan(MINE, "PR-MINE-1", "logo.png", png(), "image/png")
    assert order.status is SloganStatus.PENDING
    assert assets.graphics == {}
    assert [o.number for o in addons.pending_slogans()] == [order.number]
    approved = addons.approve_slogan(order.number, staff="Sam")
    assert approved.status is SloganStatus.QUEUED
    assert assets.graphics["PR-MINE-1"]["ad-slogan"].startswith(b"\x89PNG")
    with pytest.raises(Conflict) as caught:
        addons.reject_slogan(order.number, staff="Sam", reason="too late")
    assert caught.value.code == "slogan_decided"


def test_a_rejection_says_why_and_sends_nothing(
    addons: AddonsService, assets: FakeMeterAssets
) -> None:
    order = addons.upload_slogan(MINE, "PR-MINE-1", "ad.svg", SVG, "image/svg+xml")
    with pytest.raises(ValidationError):
        addons.reject_slogan(order.number, staff="Sam", reason="")
    rejected = addons.reject_slogan(order.number, staff="Sam", reason="a competitor's logo")
    assert rejected.status is SloganStatus.REJECTED
    assert addons.slogan(MINE, order.number).reason == "a competitor's logo"
    assert assets.graphics == {}


def test_an_svg_is_rebuilt_from_the_allow_list(addons: AddonsService) -> None:
    order = addons.upload_slogan(MINE, "PR-MINE-1", "ad.svg", SVG, "image/svg+xml")
    _, data = addons.slogan_graphic(order.number)
    assert b"metadata" not in data
    assert b"rdf" not in data
    assert b"<ns0:" not in data
    assert b"mail" in data
    assert b'fill="url(#g)"' in data


@pytest.mark.parametrize(
    ("data", "declared", "code"),
    [
        (b"", None, "upload_empty"),
        (b"GIF89a" + b"\0" * 100, None, "upload_not_an_image"),
        (b"MZ\x90\x00 an executable named logo.png", "image/png", "upload_not_an_image"),
        (SVG, "image/png", "upload_type_mismatch"),  # an SVG disguised as a PNG
        (png()[:60], "image/png", "upload_not_an_image"),  # truncated
        (png(2000, 200), None, "upload_too_many_pixels"),
        (png() + b"\0" * 300_000, None, "upload_too_large"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<script>alert(1)</script></svg>",
            None,
            "svg_script_refused",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<metadata><script>alert(1)</script></metadata></svg>",
            None,
            "svg_script_refused",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)"/>',
            None,
            "svg_script_refused",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<foreignObject><p xmlns='http://www.w3.org/1999/xhtml'>x</p></foreignObject></svg>",
            None,
            "svg_foreign_object_refused",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
            b' width="10" height="10"><rect fill="url(https://evil.example/x)"/></svg>',
            None,
            "svg_external_reference",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
            b' width="10" height="10"><use xlink:href="https://evil.example/a.svg#x"/></svg>',
            None,
            "svg_external_reference",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">&b;</svg>',
            None,
            "svg_invalid",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', None, "svg_size_required"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" style="x"/>',
            None,
            "svg_style_refused",
        ),
    ],
)
def test_bad_uploads_are_refused_with_their_code_and_nothing_is_kept(
    addons: AddonsService, repo: FakeAddonRepository, data: bytes, declared: str | None, code: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        addons.upload_slogan(MINE, "PR-MINE-1", "x", data, declared)
    assert caught.value.code == code
    assert repo.slogan_rows == {}
