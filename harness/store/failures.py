"""SQLite failures once a database is open, as one line that names the file and the fix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.errors import StoreError

_opened: list[Path] = []
"""The databases this process opened, newest last: a failure names the file it hit."""

_FIXES = {
    "SQLITE_BUSY": "another process is writing it; retry when that process finishes",
    "SQLITE_LOCKED": "another process is writing it; retry when that process finishes",
    "SQLITE_READONLY": "make the file (and its folder, for SQLite's WAL) writable, then retry",
    "SQLITE_FULL": "free disk space, then retry (a run: with --resume; what finished is stored)",
    "SQLITE_IOERR": "check the disk and that the file is still there, then retry",
    "SQLITE_CORRUPT": "the file is damaged: `sqlite3 {path} .recover | sqlite3 NEW.db` "
    "salvages what it can into NEW.db, to pass as --db",
}
_FIXES["SQLITE_NOTADB"] = _FIXES["SQLITE_CORRUPT"]


def opened(path: Path) -> None:
    """Record that `path` is open, for `store_error`."""
    if path in _opened:
        _opened.remove(path)
    _opened.append(path)


def store_error(exc: sqlite3.Error) -> StoreError | None:
    """`exc` as one line naming the database and what to do, when the cause is outside the
    program (a lock, permissions, a full disk, a damaged file); None for anything else (a
    bug, which keeps its traceback)."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    fix = _FIXES.get("_".join(name.split("_")[:2]))  # SQLITE_IOERR_SHORT_READ: SQLITE_IOERR
    if fix is None:
        return None
    path = str(_opened[-1]) if _opened else "the database"
    return StoreError(f"database {path}: {exc}: {fix.format(path=path)}")
