"""Blind pair exports: which response a reviewer saw first stays in the database.

A pair's row names the other side (`versus`) and the order the two responses were shown in
(`shown_order`, `BA` when the other side's came first); import needs both to store the label
against the right run and to swap a `BA` row back. Written in a blind export they would tell
the reviewer which response is which run's, so a blind export writes instead one opaque
`pair_key` per row and keeps the rest in the table `review_keys` of the run's database,
where `import-labels` looks it up.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.store.db import Store, now

KEY_COLUMN = "pair_key"
"""The column a blind pair export writes in place of `versus` and `shown_order`."""


@dataclass(frozen=True)
class PairKey:
    """What a blind pair row's key stands for."""

    key: str
    item_id: str
    versus: str
    shown_order: str


def hide_sides(rows: Sequence[dict[str, Any]]) -> list[PairKey]:
    """Replace each pair row's `versus` and `shown_order` by a new random key (a letter and
    16 hex digits, which no spreadsheet reads as a number); the keys, to store."""
    keys = []
    for row in rows:
        key = f"k{secrets.token_hex(8)}"
        keys.append(PairKey(key, row["item_id"], row.pop("versus"), row.pop("shown_order")))
        row[KEY_COLUMN] = key
    return keys


def store_keys(conn: sqlite3.Connection, run_id: str, keys: Sequence[PairKey]) -> None:
    """Record the keys of one export (inside the caller's transaction)."""
    stamp = now()
    conn.executemany(
        "INSERT INTO review_keys (key, run_id, item_id, versus, shown_order, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(k.key, run_id, k.item_id, k.versus, k.shown_order, stamp) for k in keys],
    )


def load_keys(store: Store, run_id: str) -> dict[str, PairKey]:
    """Every blind pair key exported from run `run_id`."""
    rows = store.conn.execute(
        "SELECT key, item_id, versus, shown_order FROM review_keys WHERE run_id = ?", [run_id]
    )
    return {key: PairKey(key, item, versus, order) for key, item, versus, order in rows}
