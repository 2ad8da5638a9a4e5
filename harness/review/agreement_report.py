"""Agreement figures once a run has human labels: among humans, and between judges and humans.

Per label name:

- human-human: pairwise Cohen's kappa (quadratic-weighted as well on ordinal scales) and
  exact agreement for every pair of annotators with shared items; Fleiss' kappa over the
  items that carry the most common number of ratings (its rating slots, not named raters,
  as Fleiss 1971 intended); Krippendorff's alpha over every item with two or more ratings,
  at the scale's level (ordinal for integer points, nominal for categories, interval for
  ranges and free numbers).
- judge-human, for a label named like a rubric the run was judged on (pointwise; for a
  pair's label `NAME@VERSUS`, pairwise against that other side, scored from A's side as
  A=1, B=0, tie=0.5): the judge's score per item as `JUDGE_SCORE_DEFINITION` says, snapped
  to the scale against each annotator (Cohen's kappa, exact agreement), unrounded against
  the mean human label (Spearman, Kendall's tau-b), and Krippendorff's alpha with the
  judge added as one more rater next to alpha among the humans alone, on the same items.

Every figure carries a 95% BCa bootstrap interval over items (`harness.agreement`).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

from harness.errors import ConfigError
from harness.judge.consistency import JUDGE_SCORE_DEFINITION, majority, nearest_point
from harness.review import source
from harness.review.scale import FREE, Scale, parse_spec, rubric_scale
from harness.store.db import Store


def has_labels(store: Store, run_id: str) -> bool:
    if not source.has_table(store, "labels"):
        return False
    row = store.conn.execute("SELECT 1 FROM labels WHERE run_id = ? LIMIT 1", [run_id]).fetchone()
    return row is not None


def _scale(name: str, spec: str | None) -> Scale:
    """The label's rubric scale (it knows how a judge writes each point), else as stored."""
    try:
        found = rubric_scale(name)
    except ConfigError:
        found = None
    if found is not None and (spec is None or found.describe() == spec):
        return found
    return parse_spec(spec, f"label '{name}'") if spec else FREE


def _level(scale: Scale, numeric: bool) -> str:
    if scale.kind == "ordinal":
        return "ordinal"
    if scale.kind == "interval":
        return "interval"
    if scale.kind == "nominal":
        return "nominal"
    return "interval" if numeric else "nominal"


def _snap(value: float, scale: Scale) -> Any:
    """A judge's (mean) number as a value of the label's scale.

    Ordinal: the nearest point; nominal: the category whose number is nearest. None halfway
    between two (the verdicts split evenly), as `JUDGE_SCORE_DEFINITION` says.
    """
    if scale.kind == "ordinal":
        return nearest_point(value, scale.points)
    if scale.kind == "nominal":
        numbered = [(abs(n - value), c) for c, n in scale.categories.items() if n is not None]
        if not numbered:
            return None
        best = min(distance for distance, _ in numbered)
        nearest = [category for distance, category in numbered if distance == best]
        return nearest[0] if len(nearest) == 1 else None
    return value


def _estimate(
    statistic: Any, *data: Any, settings: dict[str, Any], **options: Any
) -> dict[str, Any]:
    from harness.agreement import bootstrap_ci

    try:
        estimate = bootstrap_ci(statistic, *data, **settings, **options)
    except ValueError as exc:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0, "error": str(exc)}
    return estimate.to_dict()


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def human_agreement(
    store: Store,
    run_id: str,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Human-human and judge-human agreement per label; `{}` when the run has no labels."""
    if not has_labels(store, run_id):
        return {}
    settings = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    rows = store.conn.execute(
        "SELECT label_name, item_id, annotator, value, value_text, scale FROM labels "
        "WHERE run_id = ? ORDER BY label_name, item_id, annotator",
        [run_id],
    ).fetchall()
    by_name: dict[str, list[tuple[str, str, float | None, str | None, str | None]]] = defaultdict(
        list
    )
    for name, item, who, value, text, spec in rows:
        by_name[name].append((item, who, value, text, spec))
    verdicts: dict[str, list[source.Verdict]] = {}
    report: dict[str, Any] = {}
    for name, entries in by_name.items():
        scale = _scale(name, entries[-1][4])
        numeric = all(value is not None for _, _, value, _, _ in entries)
        level = _level(scale, numeric)
        use_text = level == "nominal"
        ratings: dict[str, dict[str, Any]] = defaultdict(dict)
        for item, who, value, text, _ in entries:
            if use_text and scale.kind == "free" and value is not None:
                text = scale.parse(value)[1]  # a number's text as imports now write it
            ratings[who][item] = text if use_text else value
        domain: list[Any] | None = None
        if scale.kind == "ordinal":
            domain = list(scale.points)
        elif scale.kind == "nominal":
            domain = sorted(scale.categories)
        figures: dict[str, Any] = {
            "scale": scale.describe(),
            "level": level,
            "annotators": sorted(ratings),
            "items": len({item for item, *_ in entries}),
            "ratings": len(entries),
            "human_human": _human_human(ratings, level, domain, settings),
        }
        base, _, versus = name.partition("@")
        if versus not in verdicts:
            verdicts[versus] = source.verdicts(store, run_id, versus or None)
        judged = [v for v in verdicts[versus] if v.rubric == base]
        if judged:
            figures["judge_human"] = _judge_human(judged, ratings, scale, level, domain, settings)
        report[name] = figures
    return report


def _human_human(
    ratings: dict[str, dict[str, Any]],
    level: str,
    domain: list[Any] | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    from harness.agreement import (
        cohen_kappa,
        exact_agreement,
        fleiss_kappa,
        krippendorff_alpha,
        ratings_matrix,
    )

    items, raters, matrix = ratings_matrix(ratings)
    per_item = [[v for v in row if v is not None] for row in matrix]
    multi = sum(1 for row in per_item if len(row) >= 2)
    out: dict[str, Any] = {"items_with_2_or_more": multi, "pairwise": []}
    weighted = level == "ordinal"
    kappas: list[float | None] = []
    weighted_kappas: list[float | None] = []
    for a, b in itertools.combinations(raters, 2):
        xa = [ratings[a].get(i) for i in items]
        xb = [ratings[b].get(i) for i in items]
        shared = sum(1 for x, y in zip(xa, xb, strict=True) if x is not None and y is not None)
        if shared == 0:
            continue
        pair: dict[str, Any] = {
            "a": a,
            "b": b,
            "n": shared,
            "exact_agreement": _estimate(exact_agreement, xa, xb, settings=settings),
            "cohen_kappa": _estimate(cohen_kappa, xa, xb, settings=settings, labels=domain),
        }
        kappas.append(pair["cohen_kappa"]["value"])
        if weighted:
            pair["weighted_kappa"] = _estimate(
                cohen_kappa, xa, xb, settings=settings, labels=domain, weights="quadratic"
            )
            weighted_kappas.append(pair["weighted_kappa"]["value"])
        out["pairwise"].append(pair)
    out["mean_pairwise_kappa"] = _mean(kappas)
    if weighted:
        out["mean_pairwise_weighted_kappa"] = _mean(weighted_kappas)
    counts = Counter(len(row) for row in per_item if len(row) >= 2)
    if counts:
        m = max(counts, key=lambda k: (counts[k], k))
        slots = [row for row in per_item if len(row) == m]
        out["fleiss_kappa"] = _estimate(fleiss_kappa, slots, settings=settings) | {
            "raters_per_item": m
        }
    else:
        out["fleiss_kappa"] = None
    alpha_domain = domain if level in ("ordinal", "nominal") else None
    out["krippendorff_alpha"] = _estimate(
        krippendorff_alpha, matrix, settings=settings, level=level, values=alpha_domain
    )
    return out


def _judge_human(
    verdicts: list[source.Verdict],
    ratings: dict[str, dict[str, Any]],
    scale: Scale,
    level: str,
    domain: list[Any] | None,
    settings: dict[str, Any],
) -> list[dict[str, Any]]:
    from harness.agreement import (
        cohen_kappa,
        exact_agreement,
        kendall,
        krippendorff_alpha,
        spearman,
    )

    per_judge: dict[str, list[source.Verdict]] = defaultdict(list)
    for v in verdicts:
        if v.score is not None:
            per_judge[v.judge].append(v)
    human_items = sorted({item for per in ratings.values() for item in per})
    numeric_humans = level != "nominal"
    human_mean: list[float | None] = []
    for item in human_items:
        values = [per[item] for per in ratings.values() if item in per]
        human_mean.append(sum(values) / len(values) if numeric_humans else None)
    results = []
    for judge, judged in sorted(per_judge.items()):
        sums: dict[str, list[float]] = defaultdict(list)
        for v in judged:
            sums[v.item_id].append(float(v.score))  # type: ignore[arg-type]
        means = {i: sum(values) / len(values) for i, values in sums.items()}
        if scale.kind == "nominal":  # categories have no mean: the most frequent verdict
            chosen = {i: majority(values) for i, values in sums.items()}
            snapped = {i: None if v is None else _snap(v, scale) for i, v in chosen.items()}
        else:
            snapped = {i: _snap(mean, scale) for i, mean in means.items()}
        xj = [snapped.get(i) for i in human_items]
        entry: dict[str, Any] = {
            "judge": judge,
            "items": sum(1 for x in xj if x is not None),
            "verdict": JUDGE_SCORE_DEFINITION,
            "per_annotator": [],
        }
        kappa_opts: dict[str, Any] = {"labels": domain}
        if level == "ordinal":
            kappa_opts["weights"] = "quadratic"
        kappas: list[float | None] = []
        for annotator in sorted(ratings):
            xh = [ratings[annotator].get(i) for i in human_items]
            n = sum(1 for x, y in zip(xj, xh, strict=True) if x is not None and y is not None)
            if n == 0:
                continue
            row: dict[str, Any] = {
                "annotator": annotator,
                "n": n,
                "exact_agreement": _estimate(exact_agreement, xj, xh, settings=settings),
                "cohen_kappa": _estimate(cohen_kappa, xj, xh, settings=settings, **kappa_opts),
            }
            kappas.append(row["cohen_kappa"]["value"])
            entry["per_annotator"].append(row)
        entry["kappa_weights"] = kappa_opts.get("weights")
        entry["mean_kappa"] = _mean(kappas)
        if numeric_humans:
            mean_verdict = [means.get(i) for i in human_items]
            entry["spearman"] = _estimate(spearman, mean_verdict, human_mean, settings=settings)
            entry["kendall"] = _estimate(kendall, mean_verdict, human_mean, settings=settings)
        _, _, matrix = _matrix(ratings, human_items)
        with_judge = [[*row, x] for row, x in zip(matrix, xj, strict=True)]
        judged_rows = [i for i, x in enumerate(xj) if x is not None]
        alpha_domain = domain if level in ("ordinal", "nominal") else None
        entry["alpha_humans"] = _estimate(
            krippendorff_alpha,
            [matrix[i] for i in judged_rows],
            settings=settings,
            level=level,
            values=alpha_domain,
        )
        entry["alpha_with_judge"] = _estimate(
            krippendorff_alpha,
            [with_judge[i] for i in judged_rows],
            settings=settings,
            level=level,
            values=alpha_domain,
        )
        results.append(entry)
    return results


def _matrix(
    ratings: dict[str, dict[str, Any]], items: list[str]
) -> tuple[list[str], list[str], list[list[Any]]]:
    from harness.agreement import ratings_matrix

    return ratings_matrix(ratings, items)
