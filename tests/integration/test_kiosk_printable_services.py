"""A kiosk offers only the services its account can print (issue 18, "Rate and choose").

The bug this replays: a US kiosk offered La Poste "Lettre verte", priced it in EUR,
showed Print, and then answered "please try again" forever while the real cause was
``currency_mismatch``. (``kiosk``, ``kiosk_account``, ``signed_in``: conftest.py.)
"""

from __future__ import annotations

import pytest

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.app import Postroom
from postroom.core.errors import ValidationError
from postroom.core.units import Weight


def test_a_us_kiosk_does_not_offer_a_euro_service(
    kiosk, kiosk_account: CustomerAccount, signed_in: KioskOperator
) -> None:
    page = kiosk.client.get("/kiosk/price").get_data(as_text=True)
    assert 'value="usps/first-class-letter"' in page
    assert "laposte/" not in page
    assert "Lettre verte" not in page


def test_a_replayed_euro_print_says_the_real_reason_and_charges_nothing(
    kiosk, postroom: Postroom, kiosk_account: CustomerAccount, signed_in: KioskOperator
) -> None:
    # the old page's form, as the bug sent it: La Poste's letter from a US kiosk
    form = kiosk.print_form(kiosk.price())
    form.update(service="laposte/lettre-verte", weight="15", unit="g")
    before = postroom.ledger.report(kiosk_account.number)
    for _attempt in range(2):  # "please try again" was a lie: trying again changes nothing
        response = kiosk.post("/kiosk/print", form)
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        assert "try again" not in text
        assert "cannot print this service" in text
        assert "EUR" in text
        assert "USD" in text
    after = postroom.ledger.report(kiosk_account.number)
    assert len(after.entries) == len(before.entries)


def test_the_core_refuses_a_service_in_another_currency_before_any_hold(
    postroom: Postroom, kiosk_account: CustomerAccount
) -> None:
    before = postroom.ledger.report(kiosk_account.number).entries
    with pytest.raises(ValidationError) as refused:
        postroom.meters.print_postage(
            kiosk_account.number,
            "laposte",
            "lettre-verte",
            Weight.of(15, "g"),
            idempotency_key="replay-currency-1",
            origin_zip="10001",
        )
    assert refused.value.code == "service_not_printable"
    assert refused.value.details == {"currency": "EUR", "account_currency": "USD"}
    assert postroom.ledger.report(kiosk_account.number).entries == before
