"""Mettler-Toledo MT-SICS level 0, and tare of level 1 (Standard Interface Command Set).

Commands and replies are ASCII lines ending with CR LF. Level 0 commands used here:

- ``S``: stable weight. ``S S     100.00 g`` once stable; ``S I`` when the command
  cannot be executed (no stability within the balance's timeout, or busy);
  ``S +`` overload; ``S -`` underload.
- ``SI``: weight immediately. ``S S ...`` when stable, ``S D ...`` (dynamic) when not;
  ``S I``, ``S +``, ``S -`` as above.
- ``Z``: zero. ``Z A`` done; ``Z I`` not executable (motion, busy); ``Z +`` / ``Z -``
  upper / lower limit of the zero range exceeded.
- ``T`` (level 1): tare. ``T S  12.30 g`` done (the tare taken); ``T I`` not executable;
  ``T +`` / ``T -`` upper / lower limit of the taring range exceeded.
- Any command may get ``ES`` (syntax error: not recognised), ``ET`` (transmission
  error: a character could not be read) or ``EL`` (logical error: not executable).
"""

from __future__ import annotations

from postroom.core.errors import DeviceError

from .base import (
    ScaleReading,
    SerialScale,
    normalise,
    parse_decimal,
    protocol_error,
)

CRLF = b"\r\n"

_GENERIC_ERRORS = {
    "ES": ("the scale did not recognise the command", "scale_syntax_error"),
    "ET": ("the scale could not read the command (transmission error)", "scale_transmission_error"),
    "EL": ("the scale cannot execute the command (logical error)", "scale_logical_error"),
}


def _line(raw: bytes) -> str:
    text = raw.decode("latin-1").strip()
    if text in _GENERIC_ERRORS:
        message, code = _GENERIC_ERRORS[text]
        raise DeviceError(message, code=code)
    return text


def parse_weight_reply(raw: bytes) -> ScaleReading:
    """Parse the reply to ``S`` or ``SI`` into a reading or the DeviceError it means."""
    text = _line(raw)
    parts = text.split()
    if len(parts) < 2 or parts[0] != "S":
        raise protocol_error("unexpected MT-SICS reply", raw)
    status = parts[1]
    if status == "I":
        raise DeviceError(
            "the scale could not deliver a stable weight (in motion or busy)",
            code="scale_in_motion",
        )
    if status == "+":
        raise DeviceError("the load is over the scale's capacity", code="scale_overload")
    if status == "-":
        raise DeviceError("the scale is under its weighing range", code="scale_underload")
    if status not in ("S", "D") or len(parts) != 4:
        raise protocol_error("unexpected MT-SICS weight reply", raw)
    value = parse_decimal(parts[2], raw)
    return normalise(value, parts[3], raw, status == "S", value == 0)


class SicsScale(SerialScale):
    protocol = "sics"

    def read(self, *, stable: bool = True) -> ScaleReading:
        command = b"S" if stable else b"SI"
        if stable:
            # The balance itself waits for stability; allow for its own timeout.
            saved: float = self.timeout
            self.timeout = max(saved, self.stable_timeout)
            try:
                raw = self.transact(command + CRLF, CRLF)
            finally:
                self.timeout = saved
        else:
            raw = self.transact(command + CRLF, CRLF)
        return parse_weight_reply(raw)

    def zero(self) -> None:
        raw = self.transact(b"Z" + CRLF, CRLF)
        text = _line(raw)
        if text == "Z A":
            return
        if text == "Z I":
            raise DeviceError(
                "the scale cannot zero now (in motion or busy)", code="scale_in_motion"
            )
        if text in ("Z +", "Z -"):
            raise DeviceError(
                "the load is outside the scale's zero range", code="scale_zero_out_of_range"
            )
        raise protocol_error("unexpected MT-SICS reply to Z", raw)

    def tare(self) -> None:
        text = _line(self.transact(b"T" + CRLF, CRLF))
        parts = text.split()
        if parts[:2] == ["T", "S"] and len(parts) == 4:
            return
        if text == "T I":
            raise DeviceError(
                "the scale cannot tare now (in motion or busy)", code="scale_in_motion"
            )
        if text in ("T +", "T -"):
            raise DeviceError(
                "the load is outside the scale's taring range", code="scale_tare_out_of_range"
            )
        raise protocol_error("unexpected MT-SICS reply to T", text.encode("latin-1"))
