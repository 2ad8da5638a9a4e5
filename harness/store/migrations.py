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


@migrations(name="0002_judgments")
def judgments(db: Database) -> None:
    """Judge verdicts per repeat and position order, a judge response cache, and triggers.

    A judge scorer returns its verdicts in `scores.details['judgments']`; the trigger
    `judgments_from_scores` moves them into `judgments` in the same transaction as the
    score (so an item's score and its verdicts are stored together or not at all) and
    drops them from the details. Deleting a score or a run deletes its judgments.
    """
    db.table("judgments").create(
        {
            "run_id": str,
            "item_id": str,
            "sample": int,
            "scorer": str,
            "mode": str,
            "versus": str,
            "judge": str,
            "rubric": str,
            "rubric_hash": str,
            "repeat": int,
            "position_order": str,
            "score": float,
            "weighted_score": float,
            "label": str,
            "raw": str,
            "reasoning": str,
            "parsed_ok": int,
            "error": str,
            "temperature": float,
            "seed": int,
            "created_at": str,
        },
        pk=(
            "run_id",
            "item_id",
            "sample",
            "scorer",
            "versus",
            "judge",
            "rubric_hash",
            "repeat",
            "position_order",
        ),
        not_null={"mode", "judge", "rubric", "rubric_hash", "parsed_ok"},
    )
    db.table("judgments").create_index(["run_id", "rubric"])
    db.table("judgments").create_index(["versus"])
    db.table("judge_cache").create(
        {
            "key": str,
            "text": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "finish_reason": str,
            "extra": str,
            "created_at": str,
        },
        pk="key",
    )
    fields = [
        "judge",
        "rubric",
        "rubric_hash",
        "repeat",
        "position_order",
        "score",
        "weighted_score",
        "label",
        "raw",
        "reasoning",
        "parsed_ok",
        "error",
        "temperature",
        "seed",
        "created_at",
    ]
    extracted = ", ".join(f"json_extract(j.value, '$.{name}')" for name in fields)
    db.execute(
        f"""
        CREATE TRIGGER judgments_from_scores AFTER INSERT ON scores
        WHEN json_valid(NEW.details) AND json_type(NEW.details, '$.judgments') = 'array'
        BEGIN
            DELETE FROM judgments WHERE run_id = NEW.run_id AND item_id = NEW.item_id
                AND sample = NEW.sample AND scorer = NEW.scorer AND mode = 'pointwise';
            INSERT OR REPLACE INTO judgments (run_id, item_id, sample, scorer, mode, versus,
                {", ".join(fields)})
            SELECT NEW.run_id, NEW.item_id, NEW.sample, NEW.scorer, 'pointwise', '', {extracted}
            FROM json_each(NEW.details, '$.judgments') AS j;
            UPDATE scores SET details = json_remove(NEW.details, '$.judgments')
            WHERE rowid = NEW.rowid;
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER judgments_follow_scores AFTER DELETE ON scores
        BEGIN
            DELETE FROM judgments WHERE run_id = OLD.run_id AND item_id = OLD.item_id
                AND sample = OLD.sample AND scorer = OLD.scorer AND mode = 'pointwise';
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER judgments_follow_runs AFTER DELETE ON runs
        BEGIN
            DELETE FROM judgments WHERE run_id = OLD.id OR versus = OLD.id;
        END
        """
    )


@migrations(name="0003_labels")
def human_labels(db: Database) -> None:
    """Human labels: one value per (item, annotator, label name), its scale, time and file.

    Deleting a run deletes its labels.
    """
    db.table("labels").create(
        {
            "run_id": str,
            "item_id": str,
            "annotator": str,
            "label_name": str,
            "value": float,
            "value_text": str,
            "scale": str,
            "created_at": str,
            "source": str,
        },
        pk=("run_id", "item_id", "annotator", "label_name"),
        not_null={"created_at"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.execute(
        """
        CREATE TRIGGER labels_follow_runs AFTER DELETE ON runs
        BEGIN
            DELETE FROM labels WHERE run_id = OLD.id;
        END
        """
    )


@migrations(name="0004_review_keys")
def review_keys(db: Database) -> None:
    """The keys of blind pair exports: per exported row, an opaque key written in the file
    and, here only, its item, the other side and the order the two responses were shown
    in, so that import can swap a `BA` row back without the file telling the reviewer
    which response is which run's. Deleting either run deletes the keys.
    """
    db.table("review_keys").create(
        {
            "key": str,
            "run_id": str,
            "item_id": str,
            "versus": str,
            "shown_order": str,
            "created_at": str,
        },
        pk="key",
        not_null={"run_id", "item_id", "versus", "shown_order", "created_at"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.execute(
        """
        CREATE TRIGGER review_keys_follow_runs AFTER DELETE ON runs
        BEGIN
            DELETE FROM review_keys WHERE run_id = OLD.id OR versus = OLD.id;
        END
        """
    )
