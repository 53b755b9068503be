"""A client and a server talking the framed protocol over a real pty, with faults."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import serial

from postroom.core.errors import DeviceError
from postroom.hal import framing
from postroom.hal.ptyport import PtyPort
from postroom.hal.tcpport import TcpPort


class Device:
    """A tiny device: counts what it executed, so tests can prove "exactly once"."""

    def __init__(self) -> None:
        self.executed: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, payload: bytes) -> bytes:
        with self.lock:
            self.executed.append(payload)
            return b"ok:" + payload


@pytest.fixture
def device() -> Device:
    return Device()


@pytest.fixture
def server(device: Device) -> Iterator[framing.Server]:
    port = PtyPort.open()
    srv = framing.Server(port, framing.Dispatcher(device)).start()
    srv.path = port.path  # type: ignore[attr-defined]
    yield srv
    srv.stop()
    port.close()


@pytest.fixture
def client(server: framing.Server) -> Iterator[framing.Client]:
    with framing.Client.open(server.path, timeout=0.3, retries=3) as c:  # type: ignore[attr-defined]
        yield c


def test_request_and_reply(client, device):
    assert client.request(b"identify") == b"ok:identify"
    assert client.request(b"\x7e\x7d binary") == b"ok:\x7e\x7d binary"
    assert device.executed == [b"identify", b"\x7e\x7d binary"]
    assert client.attempts == 2


def test_dropped_reply_is_retried_with_the_same_seq_and_executed_once(client, server, device):
    server.faults.drop_replies = 2
    assert client.request(b"print 0.73") == b"ok:print 0.73"
    assert device.executed == [b"print 0.73"]
    assert client.attempts == 3
    assert server.dispatcher.replayed == 2


def test_corrupted_and_truncated_replies_are_discarded_then_retried(client, server, device):
    server.faults.corrupt_replies = 1
    server.faults.truncate_replies = 1
    assert client.request(b"refill 100") == b"ok:refill 100"
    assert device.executed == [b"refill 100"]
    assert client.decoder.stats.crc_errors + client.decoder.stats.invalid >= 1
    assert client.decoder.stats.truncated == 1


def test_noise_on_the_line_is_skipped(client, server, device):
    server.faults.noise_before_reply = b"\x00\xff\x7e\x00\x05garbage"
    assert client.request(b"registers") == b"ok:registers"
    assert client.request(b"registers") == b"ok:registers"
    assert device.executed == [b"registers", b"registers"]  # two seqs, two executions


def test_no_reply_at_all_times_out_after_retries(client, server, device):
    server.faults.drop_replies = 100
    with pytest.raises(DeviceError) as caught:
        client.request(b"lock")
    assert caught.value.code == "device_timeout"
    assert client.attempts == 4
    assert device.executed == [b"lock"]


def test_handler_error_is_reported_as_device_fault(server):
    server.dispatcher.handler = lambda payload: 1 / 0
    with (
        framing.Client.open(server.path, timeout=0.3) as c,  # type: ignore[attr-defined]
        pytest.raises(DeviceError) as caught,
    ):
        c.request(b"x")
    assert caught.value.code == "device_fault"
    assert "ZeroDivisionError" in caught.value.message


def test_loop_url_and_unopenable_url():
    with pytest.raises(DeviceError) as caught:
        framing.Client.open("/dev/postroom-does-not-exist")
    assert caught.value.code == "device_unavailable"
    # On loop:// the client hears its own request, which is not a reply: it times out.
    with framing.Client.open("loop://", timeout=0.05, retries=1) as c:
        with pytest.raises(DeviceError):
            c.request(b"echo")
        assert c.decoder.stats.frames == 2


def test_serial_for_url_client_sees_a_plain_serial_port(server):
    port = serial.serial_for_url(server.path, baudrate=115200, timeout=0.3)  # type: ignore[attr-defined]
    try:
        port.write(framing.encode(framing.Frame(9, framing.KIND_REQUEST, b"raw")))
        data = b""
        decoder = framing.Decoder()
        frames: list[framing.Frame] = []
        for _ in range(20):
            data = port.read(64)
            frames += decoder.feed(data)
            if frames:
                break
        assert frames == [framing.Frame(9, framing.KIND_REPLY, b"ok:raw")]
    finally:
        port.close()


def test_a_vanished_device_is_an_io_error_or_a_timeout_never_a_crash():
    port = PtyPort.open()
    with framing.Client.open(port.path, timeout=0.1, retries=1) as c:
        port.close()
        with pytest.raises(DeviceError) as caught:
            c.request(b"identify")
    assert caught.value.code in ("device_io_error", "device_timeout")


def test_a_new_session_starting_at_the_last_seq_is_answered_from_the_last_reply(server, device):
    # Why sessions start at a random SEQ: the device cannot tell sessions apart.
    with framing.Client.open(server.path, timeout=0.3) as first:  # type: ignore[attr-defined]
        first._seq = 40
        first.request(b"identify")
    with framing.Client.open(server.path, timeout=0.3) as second:  # type: ignore[attr-defined]
        second._seq = 40
        assert second.request(b"identify") == b"ok:identify"
    assert device.executed == [b"identify"]


def test_framed_server_over_tcp_with_a_socket_url(device):
    port = TcpPort.listen()
    srv = framing.Server(port, framing.Dispatcher(device)).start()
    try:
        with framing.Client.open(port.url, timeout=0.5) as c:
            assert c.request(b"identify") == b"ok:identify"
        with framing.Client.open(port.url, timeout=0.5) as c:
            assert c.request(b"registers") == b"ok:registers"
    finally:
        srv.stop()
        port.close()
    assert device.executed == [b"identify", b"registers"]
