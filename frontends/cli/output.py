"""Files the commands write."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from postroom.core.errors import ValidationError


class AtomicOutput:
    """A file a command writes (``--output``), whole or not at all: its temporary file
    is made first, in the same folder, so a folder that cannot be written is refused
    before any work (an indicium: before the meter is asked to print, so it costs no
    postage)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        folder = path.parent if str(path.parent) else Path(".")
        try:
            if not path.name or path.is_dir():
                raise ValidationError(f"{path} is a folder: name a file", code="output_unwritable")
            if not folder.is_dir():
                raise ValidationError(f"no folder {folder} for --output", code="output_unwritable")
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        except OSError as error:
            raise ValidationError(
                f"cannot write in {folder}: {error.strerror}", code="output_unwritable"
            ) from error
        self.fd, self.tmp = fd, Path(name)

    def commit(self, data: bytes) -> None:
        fd, self.fd = self.fd, -1  # the file object owns (and closes) the descriptor now
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Remove what is left of the temporary file (nothing after a commit)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()
