"""The attachments' content on disk, named by its sha256: one copy of each content.

``cases/attachments/ab/cdef...`` in the data directory (0700, files 0600, like the
database): a file is written to a temporary name and renamed into place, so a reader
never sees half of one, and the same content attached twice is stored once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from postroom.core.errors import NotFound
from postroom.core.files import PRIVATE_FILE, private_dir

#: The folder of the data directory that holds the attachments' content.
FOLDER = Path("cases") / "attachments"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AttachmentFiles:
    """Content-addressed storage of attachments under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound("no such attachment content", code="attachment_not_found")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, content: bytes) -> str:
        """Keep ``content`` (once, whatever how often it is put); its sha256."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        private_dir(target.parent)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            os.fchmod(handle, PRIVATE_FILE)
            with os.fdopen(handle, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound("no such attachment content", code="attachment_not_found") from None
