"""Checks made when a database is opened, before anything is written, and migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from harness.errors import ConfigError
from harness.store.migrations import migrations


def refuse_foreign(db: Database, path: Path) -> None:
    """Refuse (closing it) before anything is written a database that holds tables but no
    harness migration: another application's, which must stay as it is."""
    tables = [name for name in db.table_names() if not name.startswith("sqlite_")]
    if not tables or (
        "_sqlite_migrations" in tables
        and db.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = ?", [migrations.name]
        ).fetchone()
    ):
        return
    db.conn.close()
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    raise ConfigError(
        f"{path}: not a harness database (it holds tables {shown}): "
        "pass --db with a harness database or a new path"
    )


def refuse_newer(db: Database, path: Path) -> None:
    """Refuse (closing it) before anything is written a database that records a migration
    this version does not know: a newer harness wrote it, and its schema may not fit."""
    known = {migration.name for migration in migrations._migrations}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        db.conn.close()
        raise ConfigError(
            f"database {path} was written by a newer harness (migration {unknown[0]}); "
            "upgrade harness"
        )


def migrate(db: Database) -> None:
    """Apply pending migrations under the write lock, so that two processes opening a new
    database at once wait for each other (an up-to-date database is only read)."""
    try:
        if not migrations.pending(db):
            return
    except sqlite3.OperationalError:  # no migrations table yet: a new database
        pass
    db.execute("BEGIN IMMEDIATE")
    try:
        migrations.apply(db)  # each step nests as a savepoint; the other process's are seen
    except BaseException:
        db.conn.rollback()
        raise
    db.execute("COMMIT")
