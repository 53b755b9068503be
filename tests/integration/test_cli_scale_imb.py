"""``postroom scale`` and ``postroom imb`` through Click's runner and a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from postroom.frontends.cli import cli
from postroom.hal.scales import open_scale
from postroom.hal.scales.simulators import NciSimulator, SicsSimulator

SPEC_BARS = "AADTFFDFTDADTAADAATFDTDDAAADDTDTTDAFADADDDTFFFDDTTTADFAAADFTDAADA"
IMB_ARGS = ["imb", "encode", "--barcode-id", "01", "--service-type", "234"]
IMB_ARGS += ["--mailer-id", "567094", "--serial", "987654321"]


def test_imb_encode_prints_the_bars(runner):
    result = runner.invoke(cli, [*IMB_ARGS, "--routing", "01234-5678-91"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == SPEC_BARS


def test_imb_encode_json(runner):
    result = runner.invoke(cli, [*IMB_ARGS, "--routing", "01234567891", "--json"])
    data = json.loads(result.output)
    assert data == {
        "barcode": SPEC_BARS,
        "tracking": "01234567094987654321",
        "routing": "01234567891",
    }


def test_imb_bad_input_is_one_line_and_exit_1(runner):
    result = runner.invoke(cli, [*IMB_ARGS, "--routing", "1234"])
    assert result.exit_code == 1
    assert result.output.strip().endswith("[imb_invalid_routing]")
    assert "Traceback" not in result.output
    missing = runner.invoke(cli, ["imb", "encode", "--barcode-id", "01"])
    assert missing.exit_code == 2


@pytest.mark.parametrize(
    ("protocol", "simulator"), [("nci", NciSimulator), ("sics", SicsSimulator)]
)
def test_scale_read_json(runner, protocol, simulator):
    with simulator(weight=Decimal("1.20"), unit="lb") as sim:
        result = runner.invoke(
            cli, ["scale", "read", "--port", sim.path, "--protocol", protocol, "--json"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {
            "weight": {"value": "1.20", "unit": "lb"},
            "stable": True,
        }
        sim.state.motion = True
        moving = runner.invoke(
            cli, ["scale", "read", "--port", sim.path, "--protocol", protocol, "--no-wait"]
        )
        assert moving.output.strip() == "1.20 lb (in motion)"


def test_scale_errors_are_one_line_with_their_code(runner):
    with SicsSimulator(weight="5000", overload=True) as sim:
        result = runner.invoke(cli, ["scale", "read", "--port", sim.path, "--protocol", "sics"])
    assert result.exit_code == 1
    assert result.output.strip().endswith("[scale_overload]")
    unknown = runner.invoke(cli, ["scale", "read", "--port", "loop://", "--protocol", "toledo"])
    assert unknown.exit_code == 2
    assert "known: nci, sics" in unknown.output


def test_scale_zero(runner):
    with NciSimulator(weight="0.02") as sim:
        result = runner.invoke(cli, ["scale", "zero", "--port", sim.path, "--protocol", "nci"])
        assert result.exit_code == 0, result.output
        assert sim.state.weight == 0


def test_scale_simulate_needs_exactly_one_place_to_serve(runner):
    for where in ([], ["--pty", "--tcp", "0"]):
        result = runner.invoke(cli, ["scale", "simulate", "--protocol", "nci", *where])
        assert result.exit_code == 2
        assert "--pty or --tcp PORT" in result.output


@pytest.mark.parametrize("where", [["--pty"], ["--tcp", "0"]])
def test_scale_simulate_prints_a_url_that_answers(cli_env, where):
    command = [sys.executable, "-m", "postroom.frontends.cli", "scale", "simulate"]
    command += ["--protocol", "nci", *where, "--weight", "2.50", "--unit", "oz"]
    env = {**os.environ, **cli_env}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/" if where == ["--pty"] else "socket://127.0.0.1:")
        with open_scale(path, "nci", timeout=2) as scale:
            assert scale.read().to_dict()["weight"] == {"value": "2.50", "unit": "oz"}
    finally:
        process.terminate()
        process.wait(timeout=5)
