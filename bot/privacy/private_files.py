"""SQLite database files that only their owner can read.

The outbox, the form drafts, the reference case system and a SQLite tracker store hold ID numbers,
phones and e-mails (for a while, or as their job). SQLite creates a database with mode 0644 less
the umask, and its -wal and -shm files with the database file's mode, so every local user could
read them. `private_sqlite_file` creates the file 0600 before SQLite opens it, and tightens an
existing database and its companions (from an earlier version) to 0600.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_MODE = 0o600
COMPANIONS = ("-wal", "-shm", "-journal")


def sqlite_database_path(database: str | None) -> Path | None:
    """The file of a SQLAlchemy SQLite `database` part, or None for in-memory and URI databases."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def private_sqlite_file(database: str | os.PathLike | None) -> Path | None:
    """Creates the database file (and a missing directory) readable by its owner only, and makes an
    existing database and its -wal, -shm and -journal files so; returns the path, None when there is
    no file (in-memory database)."""
    path = sqlite_database_path(os.fspath(database) if database is not None else None)
    if path is None:
        return None
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    os.close(descriptor)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        try:
            if candidate.exists() and candidate.stat().st_mode & 0o777 != PRIVATE_MODE:
                os.chmod(candidate, PRIVATE_MODE)
        except PermissionError:
            log.warning("cannot make %s readable by its owner only (not its owner)", candidate)
    return path
