"""``postroom meter``: simulate, identify, registers, public-key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from postroom.frontends.cli import cli
from postroom.hal.meter.simulator import MeterSimulator


@pytest.fixture
def sim(tmp_path: Path):
    with MeterSimulator(tmp_path / "m", "CLI1") as simulator:
        yield simulator


def test_identify_json(runner, sim):
    result = runner.invoke(cli, ["meter", "identify", "--port", sim.path, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["serial"] == "CLI1"


def test_identify_text(runner, sim):
    result = runner.invoke(cli, ["meter", "identify", "--port", sim.path])
    assert result.exit_code == 0, result.output
    assert "serial CLI1" in result.output


def test_registers_json_and_text(runner, sim):
    result = runner.invoke(cli, ["meter", "registers", "--port", sim.path, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "serial": "CLI1",
        "currency": "USD",
        "descending": 0,
        "ascending": 0,
        "pieces": 0,
        "control": 0,
    }
    text = runner.invoke(cli, ["meter", "registers", "--port", sim.path]).output
    assert "descending  $0.00" in text


def test_public_key_pem(runner, sim):
    result = runner.invoke(cli, ["meter", "public-key", "--port", sim.path])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("-----BEGIN PUBLIC KEY-----")
    assert result.output.strip() == sim.psd.public_key_pem().strip()
    serialization.load_pem_public_key(result.output.encode())


def test_unreachable_port_is_a_clear_error(runner, tmp_path):
    result = runner.invoke(cli, ["meter", "identify", "--port", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "[device_unavailable]" in result.output


def test_unknown_driver_is_a_usage_error(runner, sim):
    result = runner.invoke(cli, ["meter", "identify", "--port", sim.path, "--driver", "x"])
    assert result.exit_code == 2
    assert "unknown meter driver" in result.output


def test_simulate_needs_exactly_one_place_to_serve(runner):
    for where in ([], ["--pty", "--tcp", "0"]):
        result = runner.invoke(cli, ["meter", "simulate", "--serial", "S1", *where])
        assert result.exit_code == 2
        assert "--pty or --tcp PORT" in result.output


def test_simulate_refuses_a_bad_meter_key(runner):
    result = runner.invoke(
        cli, ["meter", "simulate", "--serial", "S1", "--pty", "--reset-key", "zz"]
    )
    assert result.exit_code == 2


@pytest.mark.parametrize("where", [["--pty"], ["--tcp", "0"]])
def test_simulate_prints_a_url_that_answers(cli_env, tmp_path, where):
    command = [sys.executable, "-m", "postroom.frontends.cli", "meter", "simulate"]
    command += ["--serial", "SUB1", *where, "--state-dir", str(tmp_path / "state")]
    env = {**os.environ, **cli_env}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("/dev/" if where == ["--pty"] else "socket://127.0.0.1:")
        result = subprocess.run(
            [*command[:4], "registers", "--port", url, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["serial"] == "SUB1"
    finally:
        process.terminate()
        process.wait(timeout=5)
    assert (tmp_path / "state" / "state.json").exists()


def test_simulate_refuses_a_state_dir_of_another_meter(runner, tmp_path):
    MeterSimulator(tmp_path / "state", "FIRST")
    result = runner.invoke(
        cli,
        [
            "meter",
            "simulate",
            "--serial",
            "SECOND",
            "--pty",
            "--state-dir",
            str(tmp_path / "state"),
        ],
    )
    assert result.exit_code == 1
    assert "[serial_mismatch]" in result.output
