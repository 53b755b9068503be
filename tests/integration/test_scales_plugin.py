"""The built-in scales plugin is loaded from its entry point and reads real (simulated) scales."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postroom.core.errors import DeviceError
from postroom.core.plugins import make_plugin_manager
from postroom.core.ports import Scale
from postroom.hal.scales.simulators import NciSimulator, SicsSimulator


def _scales() -> dict[str, Scale]:
    manager = make_plugin_manager(allowlist=["scales"])
    assert manager.failures == {}
    found = [s for group in manager.hook.register_scales() for s in group]
    assert all(isinstance(s, Scale) for s in found)
    return {s.protocol: s for s in found}


def test_entry_point_registers_both_protocols():
    manager = make_plugin_manager(allowlist=["scales"])
    info = {i.name: i for i in manager.plugin_infos()}["scales"]
    assert info.hooks == ("register_scales",)
    assert sorted(_scales()) == ["nci", "sics"]


@pytest.mark.parametrize(
    ("protocol", "simulator"), [("nci", NciSimulator), ("sics", SicsSimulator)]
)
def test_read_and_zero_through_the_port(protocol, simulator):
    scale = _scales()[protocol]
    with simulator(weight=Decimal("2.5"), unit="oz") as sim:
        assert scale.read(sim.path) == {"weight": {"value": "2.5", "unit": "oz"}, "stable": True}
        scale.zero(sim.path)
        assert scale.read(sim.path, stable=False)["weight"]["value"] == "0.0"
        sim.state.overload = True
        with pytest.raises(DeviceError) as caught:
            scale.read(sim.path)
        assert caught.value.code == "scale_overload"
