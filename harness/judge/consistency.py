"""How far the judges can be trusted: stability, agreement, position and verbosity bias.

Every figure comes with a seeded bootstrap interval over items (`harness.agreement`; 95%
unless a `confidence` is given).
Input rows are `judgments` rows (see `harness.store.judgments`).

- Repeats: per item and judge, the spread (max - min) of the parsed verdicts; an item
  is unstable when its verdicts differ. Krippendorff's alpha with repeats as raters.
- Several judges: per pair, exact agreement and Cohen's kappa (quadratic weights on an
  ordinal scale) of each judge's verdict (the mean of its repeats, rounded to the
  nearest scale point), Spearman and Kendall of the means; over all judges, Fleiss'
  kappa and Krippendorff's alpha (ordinal and interval). On a nominal scale (categories
  without an order) a judge's verdict is its most frequent one, and only exact
  agreement, unweighted kappa, Fleiss' kappa and nominal alpha are given.
- Verbosity: Spearman correlation of each judge's score with response length (words).
- Humans: the same figures between each judge and each annotator (and their mean), and
  among annotators, with the judge's score per item defined as JUDGE_SCORE_DEFINITION
  says (`harness review`'s agreement report uses the same definition).
- Pairwise: position consistency (the same winner in both orders), the share of
  decisive verdicts that pick the response shown first, per item and averaged over items
  (0.5 = no position bias; every item weighs the same), and
  win rates that count a win only when it holds in both orders.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import agreement as A
from harness._draws import cluster_codes, resamples
from harness.stats import percentile_interval

Key = tuple[str, int]
"""(item_id, sample)"""

JUDGE_SCORE_DEFINITION = (
    "judge score per item: the mean of its parsed verdicts on the first response (sample 0) "
    "over repeats and position orders; snapped to the nearest scale point for exact "
    "agreement and kappa (an item whose verdicts split evenly between two points has no "
    "snapped score and is left out of those), unrounded for Spearman, Kendall and interval "
    "alpha; on a nominal scale, the most frequent verdict instead (none on a tie), with no "
    "rank or interval figures"
)


def _estimate(statistic: Any, *data: Any, n_resamples: int, seed: int, **kw: Any) -> dict:
    return A.bootstrap_ci(statistic, *data, n_resamples=n_resamples, seed=seed, **kw).to_dict()


def bootstrap_mean(
    values: Sequence[float | None],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    clusters: Sequence[str] | None = None,
) -> dict:
    """Mean of per-row values with a percentile bootstrap interval over items; `clusters`
    (one per value: the item of each response) resamples an item's responses together."""
    keep = [i for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    data = np.asarray([values[i] for i in keep], dtype=float)
    n = int(data.size)
    if n == 0:
        return A.Estimate(None, None, None, 0, confidence).to_dict()
    value = float(data.mean())
    if n < 2 or n_resamples <= 0:
        return A.Estimate(value, None, None, n, confidence).to_dict()
    if clusters is not None and len({clusters[i] for i in keep}) < n:
        return _clustered_mean(
            data, [clusters[i] for i in keep], value, n_resamples, seed, confidence
        )
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [
            data[rng.integers(0, n, size=(min(250, n_resamples - s), n))].mean(axis=1)
            for s in range(0, n_resamples, 250)
        ]
    )
    low, high = percentile_interval(means, confidence)
    return A.Estimate(value, low, high, n, confidence).to_dict()


def _clustered_mean(
    data: np.ndarray,
    clusters: Sequence[str],
    value: float,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> dict:
    """The mean's interval from resampled clusters: sums over sizes of the drawn ones."""
    codes, n_clusters = cluster_codes(clusters)
    if n_clusters < 2:
        return A.Estimate(value, None, None, int(data.size), confidence).to_dict()
    sums = np.bincount(codes, weights=data, minlength=n_clusters)
    sizes = np.bincount(codes, minlength=n_clusters).astype(float)
    means = np.concatenate(
        [d.counts @ sums / (d.counts @ sizes) for d in resamples(n_clusters, n_resamples, seed)]
    )
    low, high = percentile_interval(means, confidence)
    return A.Estimate(value, low, high, int(data.size), confidence).to_dict()


def nearest_point(value: float | None, scale: Sequence[float] | None) -> float | None:
    """The scale point nearest to a mean verdict; None halfway between two points (verdicts
    split evenly: picking either side would bias the judge one way)."""
    if value is None or not scale:
        return value
    distances = sorted((abs(point - value), point) for point in scale)
    if len(distances) > 1 and math.isclose(distances[0][0], distances[1][0]):
        return None
    return distances[0][1]


def _group(rows: Sequence[dict[str, Any]]) -> dict[str, dict[Key, list[float | None]]]:
    """judge -> (item_id, sample) -> verdict score per repeat (None: unparsed)."""
    grouped: dict[str, dict[Key, dict[int, float | None]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        score = row["score"] if row["parsed_ok"] else None
        grouped[row["judge"]][(row["item_id"], int(row["sample"]))][int(row["repeat"])] = score
    return {
        judge: {key: [reps[r] for r in sorted(reps)] for key, reps in per_key.items()}
        for judge, per_key in grouped.items()
    }


def _mean(values: Sequence[float | None]) -> float | None:
    parsed = [v for v in values if v is not None]
    return sum(parsed) / len(parsed) if parsed else None


def majority(values: Sequence[float | None]) -> float | None:
    """The most frequent parsed verdict; None when none parsed or two tie for the most."""
    counts = Counter(v for v in values if v is not None).most_common(2)
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def pointwise_report(
    rows: Sequence[dict[str, Any]],
    *,
    scale: Sequence[float] | None = None,
    ordinal: bool = True,
    nominal: bool = False,
    lengths: dict[Key, int] | None = None,
    labels: Sequence[dict[str, Any]] = (),
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    top: int = 10,
) -> dict[str, Any]:
    """Every consistency figure for the judgments of one judge scorer (one rubric)."""
    grouped = _group(rows)
    judges = sorted(grouped)
    keys = sorted({key for per_key in grouped.values() for key in per_key})
    opts: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}
    # an item's responses (samples) go together in every resample: they are not independent
    per_response = {**opts, "clusters": [key[0] for key in keys]}
    parsed = sum(1 for r in rows if r["parsed_ok"])
    verdict = majority if nominal else _mean
    means = {j: [verdict(grouped[j].get(k, [])) for k in keys] for j in judges}
    kind = Kind(scale, ordinal, nominal)
    report: dict[str, Any] = {
        "judges": judges,
        "items": len({k[0] for k in keys}),
        "responses": len(keys),
        "repeats": max((len(v) for j in judges for v in grouped[j].values()), default=0),
        "rubric_hashes": sorted({r["rubric_hash"] for r in rows}),
        "temperatures": sorted({r["temperature"] for r in rows if r["temperature"] is not None}),
        "seeds": sorted({r["seed"] for r in rows if r["seed"] is not None}),
        "judgments": len(rows),
        "unparsed": len(rows) - parsed,
        "unparsed_rate": (len(rows) - parsed) / len(rows) if rows else None,
        "stability": {j: _stability(grouped[j], keys, top, per_response, kind) for j in judges},
        "verbosity_bias": {},
    }
    if lengths and not nominal:
        words = [lengths.get(k) for k in keys]
        for judge in judges:
            report["verbosity_bias"][judge] = _estimate(
                A.verbosity_bias, means[judge], words, **per_response
            )
    if len(judges) > 1:
        report["inter_judge"] = _agreement(
            {j: means[j] for j in judges}, kind, per_response, round_a=True, round_b=True
        )
    if labels:
        report["humans"] = _humans(keys, means, labels, kind, opts)
    return report


def _stability(
    per_key: dict[Key, list[float | None]],
    keys: list[Key],
    top: int,
    opts: dict[str, Any],
    kind: Kind,
) -> dict[str, Any]:
    spreads: list[float] = []
    unstable: list[float] = []
    units: list[str] = []
    rows: list[list[float | None]] = []
    listed: list[dict[str, Any]] = []
    for key in keys:
        values = per_key.get(key, [])
        parsed = [v for v in values if v is not None]
        rows.append(values)
        if len(parsed) < 2:
            continue
        spread = max(parsed) - min(parsed)
        spreads.append(spread)
        units.append(key[0])
        unstable.append(1.0 if spread > 0 else 0.0)
        listed.append(
            {
                "item_id": key[0],
                "sample": key[1],
                "spread": spread,
                "std": float(np.std(parsed, ddof=1)),
                "scores": values,
            }
        )
    listed.sort(key=lambda e: (-e["spread"], -round(e["std"], 9), e["item_id"], e["sample"]))
    width = max((len(r) for r in rows), default=0)
    padded = [r + [None] * (width - len(r)) for r in rows]
    figures: dict[str, Any] = {
        "items_with_repeats": len(spreads),
        "unstable_share": bootstrap_mean(unstable, **{**opts, "clusters": units}),
        "mean_spread": None
        if kind.nominal
        else bootstrap_mean(spreads, **{**opts, "clusters": units}),
        "alpha_interval": None,
        "least_stable": [e for e in listed[:top] if e["spread"] > 0],
    }
    if width > 1 and kind.nominal:
        values = list(kind.scale or ())
        figures["alpha_nominal"] = _estimate(
            A.krippendorff_alpha, padded, level="nominal", values=values or None, **opts
        )
    elif width > 1:
        figures["alpha_interval"] = _estimate(
            A.krippendorff_alpha, padded, level="interval", **opts
        )
    return figures


@dataclass(frozen=True)
class Kind:
    """The scale a rubric's verdicts are on, as the figures need it."""

    scale: Sequence[float] | None
    ordinal: bool
    nominal: bool


def _pair_figures(
    a: list[float | None],
    b: list[float | None],
    kind: Kind,
    opts: dict[str, Any],
    *,
    round_a: bool,
    round_b: bool,
) -> dict[str, Any]:
    """Agreement of two raters' item scores (kappa on scale points, correlations on means;
    on a nominal scale, exact agreement and unweighted kappa only)."""
    scale = kind.scale
    ra = [nearest_point(v, scale) if round_a else v for v in a]
    rb = [nearest_point(v, scale) if round_b else v for v in b]
    on_scale = scale is not None and all(v is None or v in scale for v in (*ra, *rb))
    if kind.nominal:
        figures: dict[str, Any] = {
            "n": sum(1 for x, y in zip(ra, rb, strict=True) if x is not None and y is not None)
        }
    else:
        figures = {
            "n": A.n_informative(A.spearman, a, b),
            "spearman": _estimate(A.spearman, a, b, **opts),
            "kendall": _estimate(A.kendall, a, b, **opts),
            "alpha_interval": _estimate(
                A.krippendorff_alpha,
                [list(p) for p in zip(a, b, strict=True)],
                level="interval",
                **opts,
            ),
        }
    if on_scale:
        weights = "quadratic" if kind.ordinal else None
        figures["exact_agreement"] = _estimate(A.exact_agreement, ra, rb, **opts)
        figures["cohen_kappa"] = _estimate(
            A.cohen_kappa, ra, rb, weights=weights, labels=list(scale or ()), **opts
        )
        figures["kappa_weights"] = weights
    return figures


def _agreement(
    raters: dict[str, list[float | None]],
    kind: Kind,
    opts: dict[str, Any],
    *,
    round_a: bool,
    round_b: bool,
) -> dict[str, Any]:
    names = sorted(raters)
    pairs = [
        {
            "a": x,
            "b": y,
            **_pair_figures(raters[x], raters[y], kind, opts, round_a=round_a, round_b=round_b),
        }
        for x, y in itertools.combinations(names, 2)
    ]
    rows = [list(values) for values in zip(*(raters[n] for n in names), strict=True)]
    result: dict[str, Any] = {"raters": names, "pairs": pairs}
    if not kind.nominal:
        result["alpha_interval"] = _estimate(A.krippendorff_alpha, rows, level="interval", **opts)
    scale = kind.scale
    rounded = [[nearest_point(v, scale) for v in row] for row in rows]
    if scale is not None and all(v is None or v in scale for row in rounded for v in row):
        level = "ordinal" if kind.ordinal else "nominal"
        result[f"alpha_{level}"] = _estimate(
            A.krippendorff_alpha, rounded, level=level, values=list(scale), **opts
        )
        result["fleiss_kappa"] = _estimate(A.fleiss_kappa, rounded, **opts)
    return result


def _humans(
    keys: list[Key],
    means: dict[str, list[float | None]],
    labels: Sequence[dict[str, Any]],
    kind: Kind,
    opts: dict[str, Any],
) -> dict[str, Any]:
    """Judge vs human and human vs human, per item (see JUDGE_SCORE_DEFINITION).

    Humans label an item's first response, so only the judgments of sample 0 count.
    """
    human: dict[str, dict[str, float]] = defaultdict(dict)
    for label in labels:
        if label.get("value") is not None:
            human[str(label["annotator"])][str(label["item_id"])] = float(label["value"])
    firsts = {key[0] for key in keys if key[1] == 0}
    items = sorted(firsts & {i for per in human.values() for i in per})
    judge_items: dict[str, list[float | None]] = {}
    for judge, values in means.items():
        first = {key[0]: value for key, value in zip(keys, values, strict=True) if key[1] == 0}
        judge_items[judge] = [first.get(i) for i in items]
    annotators = sorted(human)
    combine = majority if kind.nominal else _mean
    together = "majority" if kind.nominal else "mean"
    human_items = {a: [human[a].get(i) for i in items] for a in annotators}
    human_all = [combine([human[a].get(i) for a in annotators]) for i in items]
    judge_all = [combine([judge_items[j][n] for j in judge_items]) for n in range(len(items))]
    vs: list[dict[str, Any]] = []
    targets = dict(human_items)
    if len(annotators) > 1:
        targets[f"humans ({together})"] = human_all
    sources = dict(judge_items)
    if len(judge_items) > 1:
        sources[f"judges ({together})"] = judge_all
    for judge, values in sources.items():
        for annotator, truth in targets.items():
            vs.append(
                {
                    "judge": judge,
                    "human": annotator,
                    **_pair_figures(values, truth, kind, opts, round_a=True, round_b=False),
                }
            )
    report: dict[str, Any] = {
        "annotators": annotators,
        "items": len(items),
        "judge_score": JUDGE_SCORE_DEFINITION,
        "judge_vs_human": vs,
    }
    if len(annotators) > 1:
        report["human_human"] = _agreement(human_items, kind, opts, round_a=False, round_b=False)
    return report


def pairwise_report(
    rows: Sequence[dict[str, Any]],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Position consistency, position bias and both-order win rates of pairwise judgments.

    Row scores are from A's side (1: A better, 0: B better, 0.5: tie) whatever the order.
    """
    opts: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}
    orders: dict[tuple[str, int, str, int], dict[str, float | None]] = defaultdict(dict)
    first_pick: dict[tuple[str, int], list[float]] = defaultdict(list)
    for row in rows:
        score = row["score"] if row["parsed_ok"] else None
        item = (row["item_id"], int(row["sample"]))
        orders[(*item, row["judge"], int(row["repeat"]))][row["position_order"]] = score
        if score is not None and score != 0.5:
            first_wins = score == 1.0 if row["position_order"] == "AB" else score == 0.0
            first_pick[item].append(1.0 if first_wins else 0.0)
    consistent: dict[tuple[str, int], list[float]] = defaultdict(list)
    per_item: dict[tuple[str, int], list[float]] = defaultdict(list)
    for (item_id, sample, _, _), both in orders.items():
        ab, ba = both.get("AB"), both.get("BA")
        if ab is None or ba is None:
            continue
        consistent[(item_id, sample)].append(1.0 if ab == ba else 0.0)
        per_item[(item_id, sample)].append(ab if ab == ba else 0.5)
    outcomes = list(per_item.values())
    wins_a = [sum(1.0 for v in o if v == 1.0) / len(o) for o in outcomes]
    wins_b = [sum(1.0 for v in o if v == 0.0) / len(o) for o in outcomes]

    def item_means(groups: dict[tuple[str, int], list[float]]) -> list[float]:
        return [sum(v) / len(v) for v in groups.values() if v]

    return {
        "judges": sorted({r["judge"] for r in rows}),
        "items": len(per_item),
        "judgments": len(rows),
        "unparsed": sum(1 for r in rows if not r["parsed_ok"]),
        "position_consistency": bootstrap_mean(item_means(consistent), **opts),
        "first_position_rate": bootstrap_mean(item_means(first_pick), **opts),
        "win_rate_a": bootstrap_mean(wins_a, **opts),
        "win_rate_b": bootstrap_mean(wins_b, **opts),
        "tie_or_inconsistent_rate": bootstrap_mean(
            [1 - a - b for a, b in zip(wins_a, wins_b, strict=True)], **opts
        ),
        "score_a": bootstrap_mean([sum(o) / len(o) for o in outcomes], **opts),
    }


def pairwise_by_judge(
    rows: Sequence[dict[str, Any]],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """`pairwise_report` for each judge apart (position bias belongs to a judge)."""
    judges = sorted({r["judge"] for r in rows})
    opts: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}
    return [
        {"judge": judge} | pairwise_report([r for r in rows if r["judge"] == judge], **opts)
        for judge in judges
    ]
