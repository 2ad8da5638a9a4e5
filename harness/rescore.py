"""Score a stored run again with any scorers, without calling the model."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from harness.adapters.base import Response
from harness.errors import ConfigError
from harness.item import EITHER_GROUNDING
from harness.pipeline import score_results
from harness.scorer_setup import close_scorers, fit_corpus, make_scorers, start_scorers
from harness.scorers.base import Scorer
from harness.store.db import ItemResult, Store, dumps
from harness.summary import aggregate_scores


def rescore_run(
    store: Store,
    ref: str,
    names: Sequence[str],
    options: dict[str, dict[str, Any]] | None = None,
    batch_size: int = 256,
    judge: dict[str, Any] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> str:
    """Replace the named scorers' scores on every stored item; return the run id.

    New scores are staged first and replace the stored ones (scores, run metrics, the run's
    scorer settings) in one transaction at the end, so an error or Ctrl-C on the way leaves
    the run as it was. `judge` holds the judge options for judge scorers (see
    `runner.judge_settings`). `stopped` is asked between batches and before the swap: once
    it says so, KeyboardInterrupt is raised (a Ctrl-C whose exception Python swallowed
    inside some `__del__` must still stop the swap).
    """
    if not names:
        raise ConfigError("name at least one scorer: --scorers exact_match,token_f1")
    run = store.get_run(ref)
    run_id = str(run["id"])
    scorers = make_scorers(names, options, judge)
    _check_needs(store, run_id, scorers)
    _check_samples(run, scorers)
    start_scorers(scorers)  # an unreachable judge fails here, before any work
    fit_corpus(scorers, (item.references for item, _ in store.iter_results(run_id)))
    store.start_staging(run_id)
    batch: list[ItemResult] = []
    for item, rows in store.iter_results(run_id):
        responses = [Response(text=row["text"], error=row["error"]) for row in rows]
        batch.append(ItemResult(item, (), responses))
        if len(batch) >= batch_size:
            _stop_if(stopped)
            _write(store, run_id, batch, scorers)
            batch = []
    _write(store, run_id, batch, scorers)
    close_scorers(scorers)  # judge adapters; on an error they close at exit
    _stop_if(stopped)
    with store.transaction():
        # the config as it is now (another `score` may have changed it since the start)
        config = json.loads(store.get_run(run_id)["config"])
        config.setdefault("scorers", {}).update({s.name: s.signature() for s in scorers})
        scorer_options = config.setdefault("scorer_options", {})
        for scorer in scorers:
            scorer_options.pop(scorer.name, None)
            if (options or {}).get(scorer.name):
                scorer_options[scorer.name] = (options or {})[scorer.name]
        store.swap_staged_scores(run_id, [s.name for s in scorers])
        aggregate_scores(store, run_id, scorers)
        store.update_run(run_id, config=dumps(config))
        _stop_if(stopped)  # a Ctrl-C up to here rolls the swap back
    return run_id


def _stop_if(stopped: Callable[[], bool]) -> None:
    if stopped():
        raise KeyboardInterrupt


def _check_needs(store: Store, run_id: str, scorers: Sequence[Scorer]) -> None:
    """Fail once, up front, when a scorer needs a field the stored items lack."""
    lacks = {
        "reference": "(reference IS NULL OR reference = '[]')",
        "context": "(context IS NULL OR trim(context) = '')",
    }
    lacks[EITHER_GROUNDING] = f"{lacks['reference']} AND {lacks['context']}"
    for scorer in scorers:
        for need in sorted(scorer.requires & lacks.keys()):
            missing = store.conn.execute(
                f"SELECT item_id FROM items WHERE run_id = ? AND {lacks[need]} LIMIT 1",
                [run_id],
            ).fetchone()
            if missing:
                wanted = "context or reference" if need == EITHER_GROUNDING else need
                raise ConfigError(
                    f"scorer '{scorer.name}' needs a {wanted}, and item "
                    f"'{missing[0]}' of this run has none"
                )


def _check_samples(run: Any, scorers: Sequence[Scorer]) -> None:
    """Rescoring draws no responses: the run must hold the samples the scorers need."""
    config = json.loads(run["config"]) if run["config"] else {}
    have = int(config.get("samples") or 1)
    needed = max((scorer.min_samples for scorer in scorers), default=1)
    if needed > have:
        raise ConfigError(
            f"the scorers need --samples {needed} or more, and run {run['name']} was run "
            f"with --samples {have}; rescoring draws no new samples: ask the scorer for "
            f"fewer, or run again with --samples {needed}"
        )


def _write(store: Store, run_id: str, batch: list[ItemResult], scorers: Sequence[Scorer]) -> None:
    if not batch:
        return
    score_results(batch, scorers)
    store.stage_scores(
        run_id, [s for result in batch for s in result.scores], [r.item.id for r in batch]
    )
