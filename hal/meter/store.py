"""Atomic, durable files for the postal security device.

``atomic_write`` goes through four steps: write a temporary file beside the target,
fsync it, ``os.replace`` it over the target, fsync the directory. A power cut before
the replace leaves the old file whole; after it, the new one. ``fault`` (tests) is
called with the name of each step before it runs and may raise to simulate the cut.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

STEPS = ("write", "fsync", "replace", "fsync_dir")

Fault = Callable[[str], None]


def _no_fault(step: str) -> None:
    return None


def atomic_write(path: Path, data: bytes, fault: Fault = _no_fault, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fault("write")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fault("fsync")
        os.fsync(fd)
    finally:
        os.close(fd)
    fault("replace")
    os.replace(tmp, path)
    fault("fsync_dir")
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on a directory
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
