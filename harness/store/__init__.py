"""The SQLite store: every run, item, response and score, durably."""

import harness.store._sqlite_utils  # noqa: F401  (before db: sqlite-utils without pandas)
from harness.store.db import DEFAULT_DB, ItemResult, Store, StoreCache

__all__ = ["DEFAULT_DB", "ItemResult", "Store", "StoreCache"]
