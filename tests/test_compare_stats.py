"""The statistics of `harness compare` against reference implementations: Wilcoxon and
McNemar against scipy/statsmodels, the corrections against statsmodels, and the paired
bootstrap and approximate-randomization p-values for BLEU against sacrebleu's own paired
tests on systems built from real summaries."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from harness import registry
from harness.compare import Settings, compare_runs
from harness.compare import paired as paired_module
from harness.compare.align import PairedMetric
from harness.compare.analysis import metric_result
from harness.compare.paired import bootstrap_sums, randomization_sums, resampled_p_value
from harness.compare.resample import resample_metrics
from harness.scorers.base import Example, Scorer, ScoreRecord
from harness.stats import benjamini_hochberg, holm, mcnemar, wilcoxon_signed_rank
from harness.store.db import Store
from tests.conftest import SHARED_DATA
from tests.test_compare import write_run

SUMMEVAL = SHARED_DATA / "summeval" / "summeval.jsonl"


# --- Wilcoxon, McNemar, corrections -------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "scale", "shift"),
    [
        (8, None, 0.4),  # exact distribution (no ties, no zeros)
        (40, None, 0.2),  # exact, larger n
        (10, 5, 0),  # ties and zeros, n <= 13: exact enumeration of sign flips
        (13, 3, 1),
        (30, 5, 0),  # ties: normal approximation with tie correction
        (51, None, 0.1),  # n > 50: normal approximation
        (400, 7, 1),
    ],
)
def test_wilcoxon_matches_scipy(n: int, scale: int | None, shift: float) -> None:
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(n)
    for _ in range(5):
        if scale is None:
            base, cand = rng.normal(size=n), rng.normal(size=n) + shift
        else:
            base = rng.integers(1, scale + 1, size=n).astype(float)
            cand = np.clip(
                base + rng.integers(-1, 2, size=n) + (rng.random(n) < 0.2) * shift, 1, scale
            )
        expected = wilcoxon(cand, base)
        statistic, p = wilcoxon_signed_rank(cand - base)
        assert statistic == pytest.approx(float(expected.statistic), rel=1e-12)
        assert p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-15)


def test_wilcoxon_without_differences_is_p_one() -> None:
    assert wilcoxon_signed_rank([0.0, 0.0, 0.0]) == (0.0, 1.0)


def test_undefined_inputs_give_no_test_result() -> None:
    """A NaN difference is no evidence either way (scipy: NaN); no discordant pair is
    p = 1 in both McNemar forms; a NaN p-value cannot be corrected (BH gave 0.04 -> 0.01)."""
    statistic, p = wilcoxon_signed_rank([1.0, math.nan, 2.0, -0.5])
    assert math.isnan(statistic) and math.isnan(p)
    assert mcnemar(0, 0, exact=False) == (0.0, 1.0, False)
    for correct in (holm, benjamini_hochberg):
        with pytest.raises(ValueError, match="p-values"):
            correct([0.01, math.nan, 0.04])


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (3, 0), (5, 12), (10, 14), (13, 12), (40, 61), (7, 90)]
)
def test_mcnemar_matches_statsmodels(b: int, c: int) -> None:
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    table = [[50, b], [c, 30]]
    for exact in (True, False) if b + c else (True,):  # statsmodels divides by b + c
        statistic, p, used = mcnemar(b, c, exact=exact)
        expected = sm_mcnemar(table, exact=exact, correction=True)
        assert used is exact
        assert statistic == pytest.approx(float(expected.statistic), rel=1e-12)
        assert p == pytest.approx(float(expected.pvalue), rel=1e-12)
    assert mcnemar(b, c)[2] is (b + c < 25)


def test_corrections_match_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    p_values = list(np.concatenate([rng.random(12), rng.random(6) * 0.01, [0.04, 0.04]]))
    assert holm(p_values) == pytest.approx(list(multipletests(p_values, method="holm")[1]))
    assert benjamini_hochberg(p_values) == pytest.approx(
        list(multipletests(p_values, method="fdr_bh")[1])
    )


# --- the resampling engine ----------------------------------------------------------------


def test_chunked_bootstrap_is_the_single_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of the index draw reproduce sacrebleu's one (resamples x n) draw exactly."""
    rng = np.random.default_rng(0)
    columns = rng.random((997, 3))
    index = np.random.default_rng(42).choice(997, size=(101, 997), replace=True)
    expected = columns[index].sum(axis=1)
    monkeypatch.setattr(paired_module, "CHUNK_ELEMENTS", 997 * 7)
    assert np.allclose(bootstrap_sums(columns, 101, 42), expected, rtol=1e-12)
    monkeypatch.setattr(paired_module, "CHUNK_ELEMENTS", 10**9)
    assert np.allclose(bootstrap_sums(columns, 101, 42), expected, rtol=1e-12)


def test_chunked_randomization_is_the_single_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    differences = rng.normal(size=(1001, 2))
    swap = np.random.default_rng(9).integers(2, size=(130, 1001), dtype=bool)
    expected = swap @ differences
    monkeypatch.setattr(paired_module, "CHUNK_ELEMENTS", 1001 * 40)
    assert np.allclose(randomization_sums(differences, 130, 9), expected, rtol=1e-12)


def test_randomization_p_value_matches_exact_permutation() -> None:
    """For a difference of means, approximate randomization estimates the exact paired
    permutation p-value (all 2^n swaps) within Monte-Carlo error."""
    rng = np.random.default_rng(5)
    n = 12
    base, cand = rng.normal(size=n), rng.normal(size=n) + 0.5
    d = base - cand
    signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    exact = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12))
    trials = 20_000
    swapped = randomization_sums(d[:, None], trials, 11)[:, 0]
    null = np.abs((cand.sum() + swapped) - (base.sum() - swapped)) / n
    p = resampled_p_value(null, abs(cand.mean() - base.mean()))
    assert abs(p - exact) < 4 * np.sqrt(exact * (1 - exact) / trials) + 1e-3


def test_undefined_resamples_are_left_out_of_p_values() -> None:
    """A corpus value can be undefined in a resample (0/0): it must not count as evidence."""
    from harness.compare.paired import bootstrap_p_value

    base = np.array([0.2, np.nan, 0.4, 0.3, np.nan])
    cand = np.array([0.5, 0.6, np.nan, 0.1, 0.2])
    spread = np.abs(cand - base)[[0, 3]]
    expected = (np.count_nonzero(spread - spread.mean() >= 0.25 - 1e-9) + 1) / 3
    assert bootstrap_p_value(base, cand, 0.25) == expected
    assert bootstrap_p_value(base[[1]], cand[[1]], 0.25) == 1.0
    assert resampled_p_value(np.array([np.nan, 0.3, 0.1]), 0.2) == 2 / 3
    assert resampled_p_value(np.array([0.3]), float("nan")) == 1.0


def test_identical_systems_get_p_one(db_path: Path) -> None:
    sig = {"judge": "judge|v:1"}
    items = [
        {"id": f"i{i}", "scores": [("judge", "s", 0, float(np.sin(i)), None)]} for i in range(50)
    ]
    write_run(db_path, "x", items, sig)
    write_run(db_path, "y", items, sig)
    store = Store(db_path)
    try:
        (metric,) = compare_runs(store, ["x", "y"], Settings()).comparisons[0].metrics
    finally:
        store.close()
    assert metric.p_value == metric.p_bootstrap == metric.p_randomization == 1.0
    assert metric.difference.value == 0.0 and metric.difference.ci_low == 0.0


def test_scores_load_back_bit_for_bit(db_path: Path) -> None:
    """Scores travel through SQLite text concatenation: every double must round-trip."""
    from harness.compare.align import load_run

    rng = np.random.default_rng(4)
    values = rng.random(3000) * rng.choice([1e-300, 1e-7, 1.0, 3e5, 1e300], 3000)
    values[:4] = [0.1, 1 / 3, -2.5e-8, 0.0]
    items = [
        {"id": f"i{i}", "scores": [("judge", "s", 0, float(v), None), ("judge", "t", 0, 1.0, None)]}
        for i, v in enumerate(values)
    ]
    items[7]["scores"] = [("judge", "s", 0, None, None)]  # another layout: no 't', unscored 's'
    write_run(db_path, "r", items, {"judge": "judge|v:1"})
    store = Store(db_path)
    try:
        run = load_run(store, "r")
    finally:
        store.close()
    loaded = run.metrics[("judge", "s")]
    expected = values.copy()
    expected[7] = np.nan
    assert np.array_equal(loaded.values, expected, equal_nan=True)
    assert loaded.unscored == 1
    t = run.metrics[("judge", "t")].values
    assert np.isnan(t[7]) and np.nansum(t) == len(values) - 1


# --- corpus metrics -----------------------------------------------------------------------


class RatioScorer(Scorer):
    """Test-only corpus metric: sum of matched words over sum of words."""

    name = "ratio"
    corpus_metrics: ClassVar[frozenset[str]] = frozenset({"ratio"})

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__(scale=scale)
        self.scale = scale

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        raise NotImplementedError("rows are written directly in these tests")

    def corpus_value(self, metric: str, stats: np.ndarray) -> np.ndarray:
        return self.scale * stats[:, 0] / stats[:, 1]


def ratio_items(hits: Sequence[int], totals: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"i{i}",
            "metadata": {"lang": "en" if i % 2 else "fr"},
            "scores": [("ratio", "ratio", 0, h / t, {"stats": [int(h), int(t)]})],
        }
        for i, (h, t) in enumerate(zip(hits, totals, strict=True))
    ]


def test_corpus_metric_resamples_sufficient_statistics(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.BUILTIN_SCORERS, "ratio", "tests.test_compare_stats:RatioScorer")
    rng = np.random.default_rng(2)
    totals = rng.integers(1, 40, size=200)
    base_hits = rng.binomial(totals, 0.5)
    cand_hits = rng.binomial(totals, 0.6)
    sig = {"ratio": "ratio|scale:100"}
    options = {"ratio": {"scale": 100}}
    write_run(db_path, "b", ratio_items(base_hits, totals), sig, options)
    write_run(db_path, "c", ratio_items(cand_hits, totals), sig, options)
    store = Store(db_path)
    try:
        report = compare_runs(store, ["b", "c"], Settings(resamples=500, by="lang"))
    finally:
        store.close()
    (metric,) = report.comparisons[0].metrics
    assert metric.kind == "corpus" and metric.test == "approximate randomization"
    # The corpus value is the ratio of sums (x100 from the run's scorer options),
    # not the mean of the items' ratios.
    assert metric.baseline.value == pytest.approx(100 * base_hits.sum() / totals.sum())
    assert metric.candidate.value == pytest.approx(100 * cand_hits.sum() / totals.sum())
    index = np.random.default_rng(12345).choice(200, size=(500, 200), replace=True)
    boot = 100 * (cand_hits[index].sum(1) - base_hits[index].sum(1)) / totals[index].sum(1)
    low, high = np.quantile(boot, [0.025, 0.975])
    assert (metric.difference.ci_low, metric.difference.ci_high) == pytest.approx((low, high))
    slices = report.comparisons[0].slices
    assert slices is not None
    fr = next(s for s in slices["metrics"][0]["slices"] if s["slice"] == "fr")
    even = slice(0, None, 2)
    expected = 100 * base_hits[even].sum() / totals[even].sum()
    assert fr["baseline"]["value"] == pytest.approx(expected)


def test_corpus_metric_of_an_uninstalled_scorer_is_skipped(db_path: Path) -> None:
    sig = {"ratio": "ratio|scale:1"}
    write_run(db_path, "b", ratio_items([1, 2], [3, 4]), sig)
    write_run(db_path, "c", ratio_items([2, 2], [3, 4]), sig)
    store = Store(db_path)
    try:
        report = compare_runs(store, ["b", "c"], Settings())
    finally:
        store.close()
    # Without the scorer class nothing declares the metric a corpus one: means of items.
    (metric,) = report.comparisons[0].metrics
    assert metric.kind == "continuous"


class SacreBleuCorpus(Scorer):
    """Test-only BLEU over sacrebleu's own statistics and score function (one row at a time),
    so the comparison engine is checked against sacrebleu's paired tests exactly."""

    name = "sacrebleu_corpus"
    corpus_metrics: ClassVar[frozenset[str]] = frozenset({"bleu"})

    def __init__(self) -> None:
        super().__init__()
        from sacrebleu.metrics import BLEU

        self.bleu = BLEU()

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        hypotheses = [e.response for e in batch]
        references = [[e.item.references[0] for e in batch]]
        stats = self.bleu._extract_corpus_statistics(hypotheses, references)
        return [
            ScoreRecord(
                e.item.id,
                e.sample,
                "bleu",
                float(self.bleu._compute_score_from_stats(s).score),
                details={"stats": [int(x) for x in s]},
            )
            for e, s in zip(batch, stats, strict=True)
        ]

    def corpus_value(self, metric: str, stats: np.ndarray) -> np.ndarray:
        return np.array([self.bleu._compute_score_from_stats(list(row)).score for row in stats])


def summeval_systems() -> tuple[list[str], list[str], dict[str, list[str]]]:
    if not SUMMEVAL.exists():
        pytest.skip(f"{SUMMEVAL} is absent (reference data sits beside the checkout)")
    rows = [json.loads(line) for line in SUMMEVAL.read_text().splitlines()]
    ids = [row["doc_id"] for row in rows]
    references = [row["ref_summ"] for row in rows]
    systems = {
        name: [row["systems"][name]["sys_summ"] for row in rows] for name in rows[0]["systems"]
    }
    # A perturbed system: M8 with every seventh word dropped.
    systems["M8-drop"] = [
        " ".join(w for k, w in enumerate(text.split()) if k % 7 != 3) for text in systems["M8"]
    ]
    return ids, references, systems


def store_system(
    db: Path, name: str, scorers: Sequence[Scorer], ids: list[str], refs: list[str], hyps: list[str]
) -> None:
    from harness.item import Item

    examples = [
        Example(Item(id=i, input=f"summarise {i}", references=(r,)), 0, h)
        for i, r, h in zip(ids, refs, hyps, strict=True)
    ]
    by_item: dict[str, list[tuple[str, str, int, float | None, Any]]] = {i: [] for i in ids}
    for scorer in scorers:
        for r in scorer.score(examples):
            by_item[r.item_id].append((scorer.name, r.metric, 0, r.value, r.details))
    items = [
        {"id": e.item.id, "input": e.item.input, "responses": [e.response],
         "scores": by_item[e.item.id]}
        for e in examples
    ]  # fmt: skip
    write_run(db, name, items, {scorer.name: scorer.signature() for scorer in scorers})


PAIRS = [("M8", "M9"), ("M11", "M13"), ("M0", "M2"), ("M22", "M23"), ("M8", "M8-drop")]


def sacrebleu_p_values(
    base: list[str], cand: list[str], refs: list[str], test: str, n: int, metric: Any
) -> tuple[float, float, float]:
    from sacrebleu.significance import PairedTest

    _, scores = PairedTest([("b", base), ("c", cand)], {"m": metric}, [refs], test, n)()
    (name,) = (key for key in scores if key != "System")
    baseline, candidate = scores[name]
    return baseline.score, candidate.score, candidate.p_value


def test_bleu_paired_tests_match_sacrebleu(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same systems, same seed: our bootstrap and randomization p-values are sacrebleu's."""
    from sacrebleu.metrics import BLEU

    monkeypatch.delenv("SACREBLEU_SEED", raising=False)
    monkeypatch.setitem(
        registry.BUILTIN_SCORERS, "sacrebleu_corpus", "tests.test_compare_stats:SacreBleuCorpus"
    )
    ids, refs, systems = summeval_systems()
    scorer = SacreBleuCorpus()
    for name in sorted({s for pair in PAIRS for s in pair}):
        store_system(db_path, name, [scorer], ids, refs, systems[name])
    resamples = 1000
    store = Store(db_path)
    try:
        for base, cand in PAIRS:
            report = compare_runs(store, [base, cand], Settings(resamples=resamples))
            (metric,) = report.comparisons[0].metrics
            bleu = BLEU(force=True)
            b, c, p_bs = sacrebleu_p_values(
                systems[base], systems[cand], refs, "bs", resamples, bleu
            )
            _, _, p_ar = sacrebleu_p_values(
                systems[base], systems[cand], refs, "ar", resamples, bleu
            )
            assert metric.baseline.value == pytest.approx(b, rel=1e-12)
            assert metric.candidate.value == pytest.approx(c, rel=1e-12)
            assert metric.p_bootstrap == pytest.approx(p_bs, abs=1e-12), (base, cand)
            assert metric.p_randomization == pytest.approx(p_ar, abs=1e-12), (base, cand)
    finally:
        store.close()


def test_real_bleu_and_chrf_scorers_match_sacrebleu_paired_tests(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's BLEU and chrF scorers through the store: sacrebleu's p-values."""
    if not {"bleu", "chrf"} <= set(registry.available(registry.SCORER_GROUP)):
        pytest.skip("the project's BLEU/chrF scorers (harness/scorers/reference.py) are absent")
    from sacrebleu.metrics import BLEU, CHRF

    monkeypatch.delenv("SACREBLEU_SEED", raising=False)
    scorers = [registry.load(registry.SCORER_GROUP, name)() for name in ("bleu", "chrf")]
    ids, refs, systems = summeval_systems()
    for name in ("M8", "M9", "M11", "M13"):
        store_system(db_path, name, scorers, ids, refs, systems[name])
    store = Store(db_path)
    try:
        for base, cand in (("M8", "M9"), ("M11", "M13")):
            report = compare_runs(store, [base, cand], Settings(resamples=1000))
            metrics = {m.metric: m for m in report.comparisons[0].metrics}
            for name, reference in (("bleu", BLEU(force=True)), ("chrf", CHRF())):
                metric = metrics[name]
                assert metric.kind == "corpus"
                b, c, p_bs = sacrebleu_p_values(
                    systems[base], systems[cand], refs, "bs", 1000, reference
                )
                _, _, p_ar = sacrebleu_p_values(
                    systems[base], systems[cand], refs, "ar", 1000, reference
                )
                assert metric.baseline.value == pytest.approx(b, rel=1e-9)
                assert metric.candidate.value == pytest.approx(c, rel=1e-9)
                assert metric.p_bootstrap == pytest.approx(p_bs, abs=1e-12), (name, base, cand)
                assert metric.p_randomization == pytest.approx(p_ar, abs=1e-12), (name, base)
    finally:
        store.close()


def test_the_deciding_test_keeps_its_level_under_the_null() -> None:
    """300 comparisons of runs that differ only by noise (n=30): the deciding test rejects
    about 5% of them, where sacrebleu's paired-bootstrap p-value (still reported) rejects
    about 13%: it centres the absolute resampled differences, not the differences."""
    rng = np.random.default_rng(3)
    n, trials = 30, 300
    ids = [f"i{k}" for k in range(n)]
    decided = bootstrap = 0
    for seed in range(trials):
        base = rng.uniform(size=n)
        cand = base + rng.normal(0, 0.2, size=n)
        paired = PairedMetric("s", "m", np.arange(n), base, cand)
        (resampled,) = resample_metrics([paired], 1000, seed, 1000)
        result = metric_result(resampled, Settings(), ids)
        assert result.test == "approximate randomization"
        decided += result.p_value < 0.05
        bootstrap += (result.p_bootstrap or 1.0) < 0.05
    assert decided / trials <= 0.075
    assert bootstrap / trials >= 0.1  # why it does not decide
