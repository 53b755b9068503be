"""Private files: the data directory is 0700 and postroom's files in it 0600.

The embedded database, the job queue and the generated secret hold customers' data,
API key hashes and the key that signs sessions: no other local user may read them.
postroom never changes the process umask (it is process-wide, and a library must not
change it under its host); it creates each file with an explicit mode, which a umask
can only narrow, and tightens what already exists when it opens it. SQLite creates a
database's ``-wal``, ``-shm`` and ``-journal`` files with the database file's own
permissions, so a 0600 database keeps them 0600; existing ones are tightened too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def tighten(path: Path) -> None:
    """Take group and other permissions away from ``path``; never add any (a read-only
    directory stays read-only). A file postroom may not chmod is logged, not fatal."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except FileNotFoundError:
        return
    except OSError as error:
        log.warning("cannot restrict the permissions of %s: %s", path, error.strerror)


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) if needed; ``path`` itself is 0700."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; tighten it if it does."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        tighten(path)


def private_sqlite(path: Path) -> None:
    """A SQLite database file and its companions, before SQLite opens them: an empty
    file is a valid empty database."""
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        tighten(path.with_name(path.name + suffix))
