"""The framed serial protocol spoken between postroom and postage meters.

See docs/meter-protocol.md for the reference a device vendor implements. In short,
one frame on the wire is::

    0x7E | stuffed( LEN_HI LEN_LO SEQ KIND PAYLOAD... CRC_HI CRC_LO )

- ``0x7E`` is the start byte; it never occurs inside a frame because ``0x7E`` and
  ``0x7D`` are escaped as ``0x7D, byte ^ 0x20`` (HDLC-style byte stuffing).
- LEN is the payload length (big-endian, at most MAX_PAYLOAD), SEQ the sequence
  number (0-255) and KIND says what the frame is (request, reply or error).
- The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final
  XOR; check value 0x29B1 for ``b"123456789"``) over the unstuffed LEN..PAYLOAD,
  sent big-endian and stuffed like the rest.

A receiver resynchronises on every start byte: a frame cut short by a new 0x7E is
dropped, and a frame with a bad CRC, a bad escape, an unknown kind or an
impossible length is discarded and never acted on.
"""

from __future__ import annotations

import binascii
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol

import attrs
import serial

from postroom.core.errors import DeviceError

log = logging.getLogger(__name__)

START = 0x7E
ESCAPE = 0x7D
ESCAPE_XOR = 0x20
MAX_PAYLOAD = 4096

KIND_REQUEST = 0x01
KIND_REPLY = 0x02
KIND_ERROR = 0x03
KINDS = frozenset({KIND_REQUEST, KIND_REPLY, KIND_ERROR})

_HEADER = 4  # LEN (2), SEQ, KIND
_CRC = 2


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR.

    ``binascii.crc_hqx`` is exactly that CRC (CCITT polynomial, MSB first, no final XOR)
    from an initial value, in C: a bit-by-bit Python loop cost about 1 ms a frame,
    a fifth of a print's time on the device and on the host.
    """
    return binascii.crc_hqx(data, crc)


@attrs.frozen
class Frame:
    """One decoded frame: sequence number, kind and payload bytes."""

    seq: int = attrs.field(
        validator=attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(255))
    )
    kind: int = attrs.field(validator=attrs.validators.in_(KINDS))
    payload: bytes = attrs.field(converter=bytes, validator=attrs.validators.max_len(MAX_PAYLOAD))


_START_BYTE = bytes((START,))
_ESCAPE_BYTE = bytes((ESCAPE,))
_ESCAPED_ESCAPE = bytes((ESCAPE, ESCAPE ^ ESCAPE_XOR))
_ESCAPED_START = bytes((ESCAPE, START ^ ESCAPE_XOR))


def _stuff(data: bytes) -> bytes:
    # the escape byte first, so that the escapes added for START are not escaped again
    return data.replace(_ESCAPE_BYTE, _ESCAPED_ESCAPE).replace(_START_BYTE, _ESCAPED_START)


def encode(frame: Frame) -> bytes:
    """The bytes of ``frame`` on the wire (start byte, stuffed body and CRC)."""
    body = len(frame.payload).to_bytes(2, "big") + bytes((frame.seq, frame.kind)) + frame.payload
    crc = crc16_ccitt_false(body).to_bytes(2, "big")
    return bytes((START,)) + _stuff(body + crc)


@attrs.define
class DecoderStats:
    frames: int = 0
    crc_errors: int = 0
    truncated: int = 0
    invalid: int = 0
    garbage_bytes: int = 0


class Decoder:
    """Incremental decoder: ``feed`` bytes as they arrive, get complete valid frames.

    Survives noise between frames, frames cut short, corrupted bytes and bad CRCs:
    anything that is not a whole valid frame is counted in ``stats`` and dropped.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.stats = DecoderStats()
        self._body: bytearray | None = None  # None: hunting for a start byte
        self._escaped = False

    def reset(self) -> None:
        self._body = None
        self._escaped = False

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        at, size = 0, len(data)
        while at < size:
            byte = data[at]
            if byte == START:
                if self._body:  # a frame in progress is cut short by a new start
                    self.stats.truncated += 1
                self._body = bytearray()
                self._escaped = False
                at += 1
                continue
            body = self._body
            if body is None:  # noise: skip to the next start byte
                found = data.find(_START_BYTE, at)
                upto = size if found < 0 else found
                self.stats.garbage_bytes += upto - at
                at = upto
                continue
            if self._escaped:
                self._escaped = False
                byte ^= ESCAPE_XOR
                at += 1
                if byte not in (START, ESCAPE):  # only 0x5E and 0x5D may follow 0x7D
                    self._discard("invalid")
                    continue
                body.append(byte)
            elif byte == ESCAPE:
                self._escaped = True
                at += 1
                continue
            else:
                # a run of plain bytes, in one go: up to the next start or escape byte, and
                # no further than the length field or the end of this frame
                wanted = 2 - len(body) if len(body) < 2 else self._frame_size(body) - len(body)
                upto = min(size, at + wanted)
                for special in (_START_BYTE, _ESCAPE_BYTE):
                    found = data.find(special, at, upto)
                    if found >= 0:
                        upto = found
                body += data[at:upto]
                at = upto
            if len(body) == 2 and int.from_bytes(body, "big") > self.max_payload:
                self._discard("invalid")
                continue
            if len(body) >= _HEADER + _CRC:
                length = int.from_bytes(body[:2], "big")
                if len(body) == _HEADER + length + _CRC:
                    frame = self._complete(bytes(body), length)
                    self._body = None
                    if frame is not None:
                        frames.append(frame)
        return frames

    @staticmethod
    def _frame_size(body: bytearray) -> int:
        return _HEADER + int.from_bytes(body[:2], "big") + _CRC

    def _discard(self, reason: str) -> None:
        setattr(self.stats, reason, getattr(self.stats, reason) + 1)
        self._body = None
        self._escaped = False

    def _complete(self, body: bytes, length: int) -> Frame | None:
        content, crc = body[:-_CRC], int.from_bytes(body[-_CRC:], "big")
        if crc16_ccitt_false(content) != crc:
            self.stats.crc_errors += 1
            return None
        seq, kind = content[2], content[3]
        if kind not in KINDS:
            self.stats.invalid += 1
            return None
        self.stats.frames += 1
        return Frame(seq, kind, content[_HEADER : _HEADER + length])


class Port(Protocol):
    """What the framing layer needs of a serial port (pyserial's ``Serial`` fits)."""

    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...


def _read_some(port: Port) -> bytes:
    waiting = getattr(port, "in_waiting", 0) or 0
    return port.read(max(1, waiting))


class Client:
    """Request/response over a framed port, with timeout and retries.

    A retry resends the very same frame (same sequence number), so a device that
    executed the request but whose reply was lost answers from its last reply
    instead of executing again.
    """

    def __init__(
        self,
        port: Port,
        *,
        timeout: float = 0.5,
        retries: int = 3,
        first_seq: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.decoder = Decoder()
        self.attempts = 0  # frames sent, retries included (for diagnostics and tests)
        # A session starts at a random SEQ, so a new session's first request is not
        # mistaken by the device for a retry of the previous session's last one.
        self._seq = secrets.randbelow(256) if first_seq is None else first_seq % 256
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, url: str, *, baudrate: int = 115200, timeout: float = 0.5, retries: int = 3
    ) -> Client:
        """Open ``url`` with ``serial.serial_for_url`` (device path, pty, socket://, loop://)."""
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=min(timeout, 0.05))
        except (serial.SerialException, ValueError, OSError) as error:
            raise DeviceError(f"cannot open {url}: {error}", code="device_unavailable") from error
        return cls(port, timeout=timeout, retries=retries)

    def close(self) -> None:
        close = getattr(self.port, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, payload: bytes) -> bytes:
        """Send ``payload`` and return the device's reply payload.

        Raises DeviceError ``device_timeout`` when no valid reply came after all
        retries, ``device_fault`` when the device answered with an error frame.
        """
        with self._lock:
            seq = self._seq
            self._seq = (self._seq + 1) % 256
            wire = encode(Frame(seq, KIND_REQUEST, payload))
            for _attempt in range(self.retries + 1):
                try:
                    self.port.write(wire)
                    self.attempts += 1
                    reply = self._await(seq)
                except (serial.SerialException, OSError) as error:
                    raise DeviceError(
                        f"serial line failed: {error}", code="device_io_error"
                    ) from error
                if reply is None:
                    continue
                if reply.kind == KIND_ERROR:
                    message = reply.payload.decode("utf-8", "replace")
                    raise DeviceError(f"device error: {message}", code="device_fault")
                return reply.payload
            raise DeviceError(
                f"no valid reply after {self.retries + 1} attempts",
                code="device_timeout",
                seq=seq,
            )

    def _await(self, seq: int) -> Frame | None:
        deadline = self._clock() + self.timeout
        while self._clock() < deadline:
            data = _read_some(self.port)
            if not data:
                continue
            for frame in self.decoder.feed(data):
                if frame.seq == seq and frame.kind in (KIND_REPLY, KIND_ERROR):
                    return frame
                log.debug("ignoring frame seq=%s kind=%s", frame.seq, frame.kind)
        return None


Handler = Callable[[bytes], bytes]


class Dispatcher:
    """The device side: runs each request once and answers repeats from the last reply.

    A request whose sequence number and payload equal the previous request's is a
    retry: it gets the previous reply again, byte for byte, and the handler is not
    called. A handler exception becomes an error frame (also remembered).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.executed = 0
        self.replayed = 0
        self._last: tuple[int, bytes, Frame] | None = None

    def dispatch(self, request: Frame) -> Frame | None:
        if request.kind != KIND_REQUEST:
            return None
        if self._last is not None:
            seq, payload, reply = self._last
            if seq == request.seq and payload == request.payload:
                self.replayed += 1
                return reply
        self.executed += 1
        try:
            reply = Frame(request.seq, KIND_REPLY, self.handler(request.payload))
        except Exception as error:  # the device reports, it does not crash
            log.exception("handler failed for seq=%s", request.seq)
            message = f"{type(error).__name__}: {error}".encode()[:MAX_PAYLOAD]
            reply = Frame(request.seq, KIND_ERROR, message)
        self._last = (request.seq, request.payload, reply)
        return reply


@attrs.define
class Faults:
    """Faults a server injects into its replies (tests and the meter simulator).

    Each counter applies to that many upcoming replies, in this order of precedence.
    """

    drop_replies: int = 0
    corrupt_replies: int = 0
    truncate_replies: int = 0
    noise_before_reply: bytes = b""
    delay: float = 0.0

    def apply(self, wire: bytes) -> bytes:
        if self.delay:
            time.sleep(self.delay)
        if self.drop_replies:
            self.drop_replies -= 1
            return b""
        if self.corrupt_replies:
            self.corrupt_replies -= 1
            damaged = bytearray(wire)
            damaged[-1] = next(
                damaged[-1] ^ mask
                for mask in (1, 2, 4)
                if damaged[-1] ^ mask not in (START, ESCAPE)
            )
            wire = bytes(damaged)
        elif self.truncate_replies:
            self.truncate_replies -= 1
            wire = wire[: max(1, len(wire) // 2)]
        return self.noise_before_reply + wire


class Server:
    """Serves a Dispatcher on a port until ``stop()``; runs in its own thread."""

    def __init__(self, port: Port, dispatcher: Dispatcher, faults: Faults | None = None) -> None:
        self.port = port
        self.dispatcher = dispatcher
        self.faults = faults if faults is not None else Faults()
        self.decoder = Decoder()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            data = _read_some(self.port)
            if not data:
                continue
            for frame in self.decoder.feed(data):
                reply = self.dispatcher.dispatch(frame)
                if reply is not None:
                    wire = self.faults.apply(encode(reply))
                    if wire:
                        self.port.write(wire)

    def start(self) -> Server:
        self._thread = threading.Thread(
            target=self.serve_forever, name="framing-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
