"""The meter simulator and MeterClient over a real pty (and TCP), with injected faults."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import serial
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.errors import DeviceError, InsufficientFunds, Locked, PostroomError
from postroom.core.meters import tokens
from postroom.core.meters.device import PrintJob
from postroom.core.money import Money
from postroom.core.ports import MeterDevice
from postroom.hal.framing import Frame, encode
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.simulator import MeterSimulator
from postroom.plugins.meter_simulator import register_meter_drivers

KEY = b"p" * 32
RATES = b"usps,first-class-letter,1oz,730\n" * 200  # several chunks


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[MeterSimulator]:
    with MeterSimulator(tmp_path / "meter", "PTY1", meter_key=KEY) as sim:
        yield sim


@pytest.fixture
def meter(simulator: MeterSimulator) -> Iterator[MeterClient]:
    with MeterClient.open(simulator.path, timeout=0.3) as client:
        yield client


def token(sequence: int, mills: int) -> bytes:
    expires = datetime.now(UTC) + timedelta(days=1)
    return tokens.issue(KEY, "PTY1", sequence, Money(mills, "USD"), expires)


def job(mills: int = 730, digest: str | None = None) -> PrintJob:
    return PrintJob(
        postage=Money(mills, "USD"),
        rate_digest=digest or hashlib.sha256(RATES).hexdigest(),
        service="first-class-letter",
        mailing_date=datetime.now(UTC).date(),
        origin_zip="12345",
        cost_center="legal",
    )


@pytest.fixture
def funded(meter: MeterClient) -> MeterClient:
    assert meter.install_rates(RATES) == hashlib.sha256(RATES).hexdigest()
    meter.refill(token(1, 10_000))
    return meter


def test_identify_registers_and_public_key(meter: MeterClient) -> None:
    assert isinstance(meter, MeterDevice)
    assert meter.identify() == {
        "model": "postroom-vpsd-1",
        "serial": "PTY1",
        "firmware": "1.0.0",
        "currency": "USD",
    }
    registers = meter.registers()
    assert registers.control == Money(0, "USD")
    key = serialization.load_pem_public_key(meter.public_key_pem().encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)


def test_refill_and_print(funded: MeterClient) -> None:
    piece = funded.print_postage(job())
    assert piece.record.piece == 1
    assert piece.registers.descending == Money(9270, "USD")
    assert piece.record.serial == "PTY1"
    log = funded.piece_log()
    assert [(p.piece, p.cost_center) for p in log] == [(1, "legal")]


def test_piece_log_pages(funded: MeterClient) -> None:
    for _ in range(25):
        funded.print_postage(job(10))
    assert [p.piece for p in funded.piece_log()] == list(range(1, 26))
    assert [p.piece for p in funded.piece_log(since=20)] == [21, 22, 23, 24, 25]


def test_dropped_reply_on_print_is_retried_and_printed_once(
    simulator: MeterSimulator, funded: MeterClient
) -> None:
    simulator.faults.drop_replies = 1
    piece = funded.print_postage(job())
    assert piece.registers.pieces == 1
    assert funded.registers().pieces == 1
    assert simulator.dispatcher.replayed >= 1


def test_corrupted_reply_frame_is_retried(simulator: MeterSimulator, funded: MeterClient) -> None:
    simulator.faults.corrupt_replies = 1
    assert funded.print_postage(job()).registers.pieces == 1
    simulator.faults.truncate_replies = 1
    assert funded.registers().pieces == 1


@pytest.mark.parametrize("when", ["before", "after"])
def test_reset_mid_print(simulator: MeterSimulator, funded: MeterClient, when: str) -> None:
    setattr(simulator.psd.faults, f"reset_{when}_commit", 1)
    piece = funded.print_postage(job())
    assert simulator.dispatcher.resets == 1
    assert piece.registers.pieces == 1
    registers = funded.registers()
    assert (registers.pieces, registers.descending) == (1, Money(9270, "USD"))


def test_new_session_retry_with_same_request_id(
    simulator: MeterSimulator, funded: MeterClient
) -> None:
    simulator.faults.drop_replies = 10  # the first session gives up
    with pytest.raises(DeviceError) as info:
        funded.print_postage(job(), request_id="job-42")
    assert info.value.code == "device_timeout"
    simulator.faults.drop_replies = 0
    with MeterClient.open(simulator.path, timeout=0.3) as second:
        piece = second.print_postage(job(), request_id="job-42")
    assert piece.registers.pieces == 1


def test_refusals_carry_stable_codes(simulator: MeterSimulator, funded: MeterClient) -> None:
    with pytest.raises(InsufficientFunds):
        funded.print_postage(job(50_000))
    with pytest.raises(PostroomError) as info:
        funded.print_postage(job(digest="0" * 64))
    assert info.value.code == "rate_table_unknown"
    with pytest.raises(PostroomError) as info:
        funded.refill(token(1, 5))
    assert info.value.code == "token_replayed"
    funded.lock("audit")
    with pytest.raises(Locked) as locked:
        funded.print_postage(job())
    assert locked.value.code == "meter_locked"
    funded.unlock()
    assert funded.registers().pieces == 0


def test_a_foreign_key_fails_signature_check(simulator: MeterSimulator) -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with (
        MeterClient.open(simulator.path, public_key_pem=pem) as client,
        pytest.raises(DeviceError) as info,
    ):
        client.registers()
    assert info.value.code == "signature_invalid"


def test_install_firmware_graphics_features(funded: MeterClient) -> None:
    funded.install_firmware(b"\x00\x7e\x7d" * 1500, "1.2.0")
    funded.install_graphics("slogan", b"Ship it with postroom")
    assert funded.set_features({"cost_centers": True}) == {"cost_centers": True}
    assert funded.identify()["firmware"] == "1.2.0"
    diagnostics = funded.diagnostics()
    assert "slogan" in diagnostics["graphics"]


def test_over_tcp_via_the_plugin_driver(tmp_path: Path) -> None:
    sim = MeterSimulator(tmp_path / "tcp", "TCP1", meter_key=KEY)
    url = sim.start(tcp_port=0)
    try:
        (driver,) = register_meter_drivers()
        device = driver.open(url)
        try:
            assert device.identify()["serial"] == "TCP1"
        finally:
            device.close()
    finally:
        sim.stop()


def test_corrupted_request_frames_are_never_acted_on(
    simulator: MeterSimulator, funded: MeterClient
) -> None:
    funded.lock("audit")
    wire = bytearray(encode(Frame(9, 1, b'{"cmd":"unlock"}')))
    wire[-1] ^= 0x01  # bad CRC (or a bad escape): the frame must be dropped
    with serial.serial_for_url(simulator.path, timeout=0.1) as raw:
        raw.write(b"\x00\xffnoise" + bytes(wire) + b"\x7e\x00")
        raw.read(100)
    assert simulator.server is not None
    stats = simulator.server.decoder.stats
    assert stats.crc_errors + stats.invalid >= 1  # dropped, never executed
    assert stats.garbage_bytes >= 7
    with pytest.raises(Locked):
        funded.print_postage(job())
    assert funded.registers().pieces == 0
