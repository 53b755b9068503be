"""Which carrier a number goes to: its family, an S10 number's country, a real carrier
before the sandbox, and the sandbox never where it is not allowed."""

from __future__ import annotations

import pytest
from tracking_fakes import ScriptedCarrier

from postroom.core.errors import NotFound, ValidationError
from postroom.core.tracking.carriers import Carriers
from postroom.core.tracking.numbers import identify

SANDBOX = ScriptedCarrier(code="sandbox", sandbox=True)
USPS = ScriptedCarrier(code="usps", number_carriers=("usps", "upu:US"))
LA_POSTE = ScriptedCarrier(code="laposte", number_carriers=("upu:FR",))


def test_a_number_goes_to_its_carrier_before_the_sandbox() -> None:
    carriers = Carriers(lambda: [SANDBOX, USPS, LA_POSTE])
    assert carriers.for_number(identify("9400111201080805483016")).code == "usps"
    assert carriers.for_number(identify("RB123456785US")).code == "usps"
    assert carriers.for_number(identify("RB123456785FR")).code == "laposte"
    assert carriers.for_number(identify("RB123456785GB")).code == "sandbox"
    assert carriers.for_number(identify("1Z5R89390357567127")).code == "sandbox"


def test_a_named_carrier_must_track_the_number() -> None:
    carriers = Carriers(lambda: [USPS, LA_POSTE])
    with pytest.raises(ValidationError) as caught:
        carriers.for_number(identify("RB123456785US"), "laposte")
    assert caught.value.code == "carrier_mismatch"
    with pytest.raises(NotFound) as missing:
        carriers.for_number(identify("RB123456785US"), "dhl")
    assert missing.value.code == "unknown_carrier"


def test_without_the_sandbox_a_number_nobody_tracks_is_refused() -> None:
    carriers = Carriers(lambda: [SANDBOX, USPS], sandbox_allowed=False)
    assert list(carriers.all()) == ["usps"]
    with pytest.raises(ValidationError) as caught:
        carriers.for_number(identify("1Z5R89390357567127"))
    assert caught.value.code == "no_carrier_for_number"


def test_a_second_carrier_with_a_taken_code_is_skipped() -> None:
    carriers = Carriers(lambda: [USPS, ScriptedCarrier(code="usps", name="impostor")])
    assert carriers.get("usps").name == "Scripted carrier"
