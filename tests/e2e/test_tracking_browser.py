"""Tracking in a real browser on `postroom serve --demo`: a visitor looks a number up on
the public page without signing in and sees no names; the demo owner follows a number,
opens the lost demo parcel and asks support for a trace."""

from __future__ import annotations

from conftest import wait_signed_in
from playwright.sync_api import expect

from postroom.core.demo import DEMO_SHIPMENTS

LOST = "9400111201080805010007"  # the demo's parcel whose scans stop (ORD-1047)


def test_a_visitor_tracks_a_number_and_an_owner_asks_a_trace(demo_owner, page) -> None:
    base = demo_owner.server.base
    page.goto(f"{base}/track")
    page.get_by_label("Tracking number").fill("9400 1112 0108 0805 0100 21")
    page.get_by_role("button", name="Track").click()
    expect(page.locator("h2").first).to_have_text(DEMO_SHIPMENTS[0][0], use_inner_text=True)
    expect(page.locator("table tbody tr").first).to_be_visible()
    assert "Harbor Books" not in page.content()  # the recipient stays private

    page.goto(f"{base}/shipments")
    page.fill("input[name=email]", demo_owner.email)
    page.fill("input[name=password]", demo_owner.password)
    page.locator("form", has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    wait_signed_in(page)
    page.goto(f"{base}/shipments")
    expect(page.locator("h1")).to_have_text("My shipments", use_inner_text=True)
    assert page.locator("table tbody tr").count() == len(DEMO_SHIPMENTS)

    page.get_by_label("Tracking number").fill("1Z5R8939-0357567127")
    page.get_by_role("button", name="Follow", exact=True).click()
    expect(page.locator("h1")).to_have_text("1Z5R89390357567127", use_inner_text=True)

    page.goto(f"{base}/shipments")
    page.get_by_role("link", name=LOST).click()
    expect(page.locator(".status-box")).to_be_visible()  # lost or still moving: the demo's day
    page.get_by_label("What do you need?").select_option("lost")
    page.get_by_label("Note for support (optional)").fill("The clinic never got it.")
    page.get_by_role("button", name="Send to support").click()
    expect(page.get_by_text("Support has your request")).to_be_visible()
    assert page.console_errors == []
