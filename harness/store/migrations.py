"""Numbered schema migrations, applied when a store opens. Never edit one that shipped."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("harness")


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    """Runs, items, responses per sample, scores, run-level metrics, response cache."""
    db.table("runs").create(
        {
            "id": str,
            "name": str,
            "status": str,
            "created_at": str,
            "updated_at": str,
            "finished_at": str,
            "model": str,
            "dataset": str,
            "dataset_fingerprint": str,
            "template_hash": str,
            "n_items": int,
            "config": str,
            "versions": str,
            "git_revision": str,
            "stats": str,
        },
        pk="id",
        not_null={"name", "status", "created_at"},
    )
    db.table("runs").create_index(["name"], unique=True)
    db.table("items").create(
        {
            "run_id": str,
            "item_id": str,
            "row": int,
            "input": str,
            "reference": str,
            "context": str,
            "metadata": str,
            "prompt": str,
        },
        pk=("run_id", "item_id"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("responses").create(
        {
            "run_id": str,
            "item_id": str,
            "sample": int,
            "text": str,
            "error": str,
            "latency_ms": float,
            "prompt_tokens": int,
            "completion_tokens": int,
            "finish_reason": str,
            "attempts": int,
            "cached": int,
        },
        pk=("run_id", "item_id", "sample"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("scores").create(
        {
            "run_id": str,
            "item_id": str,
            "sample": int,
            "scorer": str,
            "metric": str,
            "value": float,
            "label": str,
            "details": str,
            "signature": str,
        },
        pk=("run_id", "item_id", "sample", "scorer", "metric"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("run_metrics").create(
        {
            "run_id": str,
            "scorer": str,
            "metric": str,
            "value": float,
            "ci_low": float,
            "ci_high": float,
            "n": int,
            "details": str,
            "signature": str,
        },
        pk=("run_id", "scorer", "metric"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("response_cache").create(
        {
            "key": str,
            "text": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "finish_reason": str,
            "created_at": str,
        },
        pk="key",
    )
