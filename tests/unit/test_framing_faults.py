"""A deterministic simulation of a lossy serial line (in the spirit of TigerBeetle's VOPR).

Hypothesis picks, for every frame crossing the line in either direction, whether it
arrives intact, is lost, corrupted, cut short or preceded by noise. Whatever it picks,
the device executes each request at most once, the host only ever accepts the right
reply, and the host keeps working after a timeout.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from postroom.core.errors import DeviceError
from postroom.hal import framing

FATES = ["ok", "ok", "ok", "drop", "corrupt", "truncate", "noise"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class LossyLine:
    """The host's port: every write reaches the device through the line's fates."""

    def __init__(self, dispatcher: framing.Dispatcher, fates, clock: FakeClock) -> None:
        self.dispatcher = dispatcher
        self.device_decoder = framing.Decoder()
        self.fates = fates
        self.clock = clock
        self.inbox = bytearray()
        self.timeout = 0.01

    def _damage(self, wire: bytes) -> bytes:
        fate = self.fates()
        if fate == "drop":
            return b""
        if fate == "corrupt":
            damaged = bytearray(wire)
            index = len(damaged) // 2
            damaged[index] = damaged[index] ^ 0x10 if damaged[index] ^ 0x10 != 0x7E else 0x00
            return bytes(damaged)
        if fate == "truncate":
            return wire[: len(wire) - 1]
        if fate == "noise":
            return b"\x7e\x00\x03\x11\x01zz" + wire
        return wire

    def write(self, data: bytes) -> int:
        for request in self.device_decoder.feed(self._damage(data)):
            reply = self.dispatcher.dispatch(request)
            if reply is not None:
                self.inbox += self._damage(framing.encode(reply))
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self.inbox)

    def read(self, size: int = 1) -> bytes:
        if not self.inbox:
            self.clock.now += self.timeout  # waiting on an idle line takes time
        data = bytes(self.inbox[:size])
        del self.inbox[:size]
        return data


@settings(max_examples=200, deadline=None)
@given(st.data(), st.lists(st.binary(max_size=20), min_size=1, max_size=12))
def test_exactly_once_whatever_the_line_does(data, bodies):
    executed: dict[bytes, int] = {}

    def handler(payload: bytes) -> bytes:
        executed[payload] = executed.get(payload, 0) + 1
        return b"done:" + payload

    clock = FakeClock()
    healthy = False

    def fate() -> str:
        return "ok" if healthy else data.draw(st.sampled_from(FATES))

    line = LossyLine(framing.Dispatcher(handler), fate, clock)
    client = framing.Client(line, timeout=0.05, retries=3, clock=clock)
    for number, body in enumerate(bodies):
        payload = number.to_bytes(2, "big") + body  # every request is distinct
        try:
            reply = client.request(payload)
        except DeviceError as error:
            code = error.code
            assert code == "device_timeout"
            assert executed.get(payload, 0) <= 1
            event("timed out")
        else:
            assert reply == b"done:" + payload
            assert executed[payload] == 1
            event("reply received")
    assert all(count == 1 for count in executed.values())
    # Once the line is healthy again, the very next request goes through.
    healthy = True
    assert client.request(b"after") == b"done:after"
    assert executed[b"after"] == 1
