"""Meter add-ons and ad slogans on the real store (SQLite, and PostgreSQL in the
PostgreSQL pass): the add-on is invoiced by billing and its feature waits in the meter's
sync plan; an approved upload waits there as the ad-slogan graphic."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from postroom.core.app import Postroom
from postroom.core.errors import NotFound, ValidationError

SERIAL = "PR-ADDON-1"


@pytest.fixture
def numbers(postroom: Postroom) -> dict[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD").number
    other = postroom.accounts.create("Other Mailroom", "US", "USD").number
    postroom.meters.register(mine, product_code="PR-VPSD1", serial=SERIAL)
    postroom.billing.set_profile(mine, region="NY")
    return {"mine": mine, "other": other}


def test_an_addon_is_invoiced_and_waits_for_the_meters_next_sync(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    bought = postroom.shop.addons.buy(numbers["mine"], SERIAL, "WEIGH-30KG")
    assert bought.status.value == "queued"
    invoice = postroom.billing.get(numbers["mine"], bought.invoice_number)
    assert invoice.kind.value == "addon"
    assert postroom.meters.get(SERIAL).features.get("weighing_30kg") is True
    again = postroom.shop.addons.buy(numbers["mine"], SERIAL, "WEIGH-30KG")
    assert again.invoice_number == bought.invoice_number
    assert len(postroom.billing.list(numbers["mine"])) == 1
    with pytest.raises(NotFound):
        postroom.shop.addons.buy(numbers["other"], SERIAL, "AD-SLOTS-4")


def test_an_approved_upload_waits_as_the_ad_slogan_graphic(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    out = io.BytesIO()
    Image.new("RGB", (600, 200), "blue").save(out, format="PNG")
    order = postroom.shop.addons.upload_slogan(
        numbers["mine"], SERIAL, "logo.png", out.getvalue(), "image/png"
    )
    assert "ad-slogan" not in postroom.meters.get(SERIAL).graphics
    assert [o.number for o in postroom.shop.addons.pending_slogans()] == [order.number]
    postroom.shop.addons.approve_slogan(order.number, staff="Sam Staff")
    assert "ad-slogan" in postroom.meters.get(SERIAL).graphics
    assert postroom.shop.addons.slogan(numbers["mine"], order.number).status.value == "queued"
    with pytest.raises(NotFound):
        postroom.shop.addons.slogan(numbers["other"], order.number)
    with pytest.raises(ValidationError):
        postroom.shop.addons.upload_slogan(
            numbers["mine"], SERIAL, "x.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9" onload="x()"/>',
        )  # fmt: skip
    assert len(postroom.shop.addons.slogans(numbers["mine"])) == 1


def test_a_library_slogan_is_the_meters_slogan_at_its_next_sync(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    postroom.shop.addons.choose_slogan(numbers["mine"], SERIAL, "THANKS", "en")
    assert postroom.meters.get(SERIAL).ad_slogan == "Thank you for your business"
