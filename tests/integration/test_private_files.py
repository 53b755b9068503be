"""The data directory is 0700 and postroom's files in it 0600 (issue 11, item 6): the
embedded database with its WAL and shared-memory files, the job queue and the generated
secret, whatever the umask; an installation made before keeps nothing readable by others."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.files import private_sqlite, tighten

FILES = ("postroom.db", "postroom.db-wal", "postroom.db-shm", "jobs.db", "secret_key")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The common default: new files readable by everyone unless postroom says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _open_and_write(data: Path, clock) -> None:
    # The embedded defaults: the database, the job queue and the secret in the data dir.
    with Postroom.open(config=Config.load({}, data_dir=data), clock=clock) as pr:
        pr.accounts.create("Acme Mailroom", "US", "USD")  # a write: WAL and SHM exist
        assert pr.config.resolved_secret_key()
        for name in FILES:
            assert (data / name).exists(), name
            assert mode(data / name) == 0o600, name


def test_a_new_data_directory_and_its_files_are_private(tmp_path, clock, lax_umask):
    data = tmp_path / "new" / "data"
    _open_and_write(data, clock)
    assert mode(data) == 0o700


def test_an_existing_installation_is_tightened_when_opened(tmp_path, clock, lax_umask):
    data = tmp_path / "old"
    _open_and_write(data, clock)
    data.chmod(0o755)
    for name in FILES:
        if (data / name).exists():  # SQLite removed the WAL and SHM at the last close
            (data / name).chmod(0o644)
    _open_and_write(data, clock)
    assert mode(data) == 0o700


def test_tightening_takes_permissions_away_and_never_adds_any(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    tighten(read_only)
    assert mode(read_only) == 0o500
    shared = tmp_path / "f"
    shared.write_text("x")
    shared.chmod(0o664)
    tighten(shared)
    assert mode(shared) == 0o600
    tighten(tmp_path / "missing")  # nothing to do, no error


def test_a_databases_leftover_companions_are_tightened_before_sqlite_opens_it(tmp_path):
    database = tmp_path / "postroom.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").write_bytes(b"")
        Path(f"{database}{suffix}").chmod(0o644)
    private_sqlite(database)
    for suffix in ("", "-wal", "-shm", "-journal"):
        assert mode(Path(f"{database}{suffix}")) == 0o600, suffix
