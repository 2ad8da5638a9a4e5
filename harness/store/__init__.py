"""The SQLite store: every run, item, response and score, durably."""

from harness.store.db import DEFAULT_DB, ItemResult, Store, StoreCache

__all__ = ["DEFAULT_DB", "ItemResult", "Store", "StoreCache"]
