"""Durable files for the postal security device: atomic replaces and an append-only log.

``atomic_write`` goes through four steps: write a temporary file beside the target,
fsync it, ``os.replace`` it over the target, fsync the directory. A power cut before
the replace leaves the old file whole; after it, the new one.

``append_record`` adds one record to an append-only log: a 4-byte big-endian length,
the CRC-32 of the payload (4 bytes), the payload; then fsync. ``read_records`` reads
them back and tells a *torn tail* (the last record cut short by a crash: shorter than
its length, or failing its CRC with nothing after it) from damage in the middle of the
file (``LogDamaged``), which no crash can cause.

``fault`` (tests) is called with the name of each step before it runs and may raise to
simulate the cut (or end the process to simulate a kill): ``STEPS`` for an atomic
write, ``APPEND_STEPS`` for an append, where ``torn`` comes after the first half of the
record is written.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

STEPS = ("write", "fsync", "replace", "fsync_dir")
APPEND_STEPS = ("append", "torn", "fsync_log")

Fault = Callable[[str], None]

_HEADER = struct.Struct(">II")  # payload length, CRC-32 of the payload


def _no_fault(step: str) -> None:
    return None


class LogDamaged(Exception):
    """A record in the middle of a log fails its check: not a crash, a damaged file."""


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on a directory
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write(path: Path, data: bytes, fault: Fault = _no_fault, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fault("write")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        _write_all(fd, data)
        fault("fsync")
        os.fsync(fd)
    finally:
        os.close(fd)
    fault("replace")
    os.replace(tmp, path)
    fault("fsync_dir")
    fsync_dir(path.parent)


def encode_record(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def append_record(path: Path, payload: bytes, fault: Fault = _no_fault) -> None:
    """Append one record to the log at ``path`` (which exists) and fsync it."""
    record = memoryview(encode_record(payload))
    half = len(record) // 2
    fault("append")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        _write_all(fd, record[:half])
        fault("torn")
        _write_all(fd, record[half:])
        fault("fsync_log")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: Path) -> tuple[list[bytes], int]:
    """The payloads of the log at ``path``, and the length of its whole records: when it
    is shorter than the file, the tail is a record torn by a crash (never acknowledged)."""
    data = path.read_bytes()
    payloads: list[bytes] = []
    at = 0
    while at < len(data):
        if len(data) - at < _HEADER.size:
            break  # torn inside the header
        size, crc = _HEADER.unpack_from(data, at)
        end = at + _HEADER.size + size
        if end > len(data):
            break  # torn inside the payload
        payload = data[at + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            if end == len(data):
                break  # the last record, partly written
            raise LogDamaged(f"{path.name}: record at byte {at} fails its check")
        payloads.append(payload)
        at = end
    return payloads, at


def truncate(path: Path, length: int) -> None:
    """Cut the log at ``path`` to ``length`` bytes (drop a torn tail), durably."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, length)
        os.fsync(fd)
    finally:
        os.close(fd)
