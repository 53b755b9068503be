"""Scale drivers against their simulators over real ptys."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postroom.core.errors import DeviceError, ValidationError
from postroom.core.units import Weight
from postroom.hal.scales import NciScale, SicsScale, open_scale
from postroom.hal.scales.simulators import NciSimulator, SicsSimulator

SIMULATORS = {"nci": NciSimulator, "sics": SicsSimulator}


@pytest.fixture(params=["nci", "sics"])
def rig(request):
    with SIMULATORS[request.param](weight=Decimal("1.20"), unit="lb") as sim:
        scale = open_scale(sim.path, request.param, timeout=0.5, stable_timeout=0.5)
        scale.poll_interval = 0.02
        try:
            yield sim, scale
        finally:
            scale.close()


def _code(call) -> str:
    with pytest.raises(DeviceError) as caught:
        call()
    return caught.value.code


def test_stable_reading_is_exact(rig):
    sim, scale = rig
    reading = scale.read()
    assert (reading.value, reading.unit, reading.stable) == (Decimal("1.20"), "lb", True)
    assert reading.weight == Weight.of(Decimal("1.2"), "lb")
    sim.state.weight, sim.state.unit = Decimal("453.59"), "g"
    assert scale.read().to_dict() == {"weight": {"value": "453.59", "unit": "g"}, "stable": True}


def test_motion_then_settling_gives_a_stable_reading(rig):
    sim, scale = rig
    sim.state.settle_after = 2
    assert scale.read().stable is True


def test_unstable_reading_when_asked_for_the_immediate_weight(rig):
    sim, scale = rig
    sim.state.motion = True
    reading = scale.read(stable=False)
    assert reading.stable is False
    assert reading.value == Decimal("1.20")


def test_persistent_motion_is_scale_in_motion(rig):
    sim, scale = rig
    sim.state.motion = True
    assert _code(scale.read) == "scale_in_motion"
    assert _code(scale.zero) == "scale_in_motion"


def test_overload_and_underload(rig):
    sim, scale = rig
    sim.state.overload = True
    assert _code(scale.read) == "scale_overload"
    assert _code(lambda: scale.read(stable=False)) == "scale_overload"
    sim.state.overload, sim.state.underload = False, True
    assert _code(scale.read) == "scale_underload"


def test_zero_then_read_zero(rig):
    _sim, scale = rig
    scale.zero()
    reading = scale.read()
    assert reading.value == 0
    assert reading.at_zero is True


def test_silent_scale_times_out(rig):
    sim, scale = rig
    sim.state.silent = True
    assert _code(scale.read) == "scale_timeout"


def test_nci_commands_on_the_wire():
    with NciSimulator(weight="0.50", unit="kg") as sim, NciScale.open(sim.path) as scale:
        assert scale.read().weight == Weight.of(Decimal("0.5"), "kg")
        assert scale.status().at_zero is False
        assert sim.state.commands == [b"W", b"S"]
        assert sim.answer(b"X") == b"\n?\r\x03"


def test_sics_commands_on_the_wire():
    with SicsSimulator(weight="100.00") as sim, SicsScale.open(sim.path) as scale:
        assert scale.read().to_dict()["weight"] == {"value": "100.00", "unit": "g"}
        assert scale.read(stable=False).stable is True
        assert sim.state.commands == [b"S", b"SI"]
        assert sim.answer(b"XYZ") == b"ES\r\n"


def test_unknown_protocol_and_port():
    with pytest.raises(ValidationError) as caught:
        open_scale("loop://", "toledo-8142")
    assert caught.value.code == "unknown_scale_protocol"
    with pytest.raises(DeviceError) as failed:
        open_scale("/dev/postroom-no-such-scale", "nci")
    assert failed.value.code == "device_unavailable"


def test_simulator_over_tcp_with_a_socket_url():
    sim = SicsSimulator(weight="250.0")
    url = sim.start(tcp_port=0)
    try:
        assert url.startswith("socket://127.0.0.1:")
        for _ in range(2):  # a second client after the first hung up
            with SicsScale.open(url) as scale:
                assert scale.read().to_dict()["weight"] == {"value": "250.0", "unit": "g"}
    finally:
        sim.stop()
