"""`harness report`: the data it gathers, the HTML page, the Markdown summary, the CLI.

Runs come from `harness run` with the fake adapter, or are written straight into the store
(`write_run` of the compare tests) where exact values matter.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats

from harness import registry
from harness.compare import Settings, compare_runs
from harness.markdown_text import escape
from harness.report import ReportOptions, gather_report, render_html, render_markdown
from harness.scorers.base import mean_metric
from harness.scorers.hallucination.aggregate import hallucination_rate
from harness.scorers.toxicity.aggregates import flagged_rate
from harness.stats import mean_ci, wilson_interval
from harness.store.db import Store, now
from tests.test_compare import ScriptedAdapter, invoke, write_run
from tests.test_fairness import largest_gap_of_means

PAYLOAD = "<script>document.title='pwned';document.body.append('PWNED')</script>"
IMG_PAYLOAD = '<img src=x onerror="document.title=1">'


class Tags(HTMLParser):
    """Start tags and their attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def named(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]


def tags(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    return parser


@pytest.fixture
def run_db(
    qa_file: Path, db_path: Path, fake_registered: None, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Two runs of the QA set through `harness run`: `base` right everywhere, `cand` wrong on
    q1 and q5 and answering q3 with a script."""
    monkeypatch.setitem(registry.BUILTIN_ADAPTERS, "scripted", "tests.test_compare:ScriptedAdapter")
    monkeypatch.setattr(ScriptedAdapter, "script", {"q1": "nope", "q3": PAYLOAD, "q5": "x"})
    common = ["--scorers", "exact_match,token_f1", "--db", str(db_path), "--no-progress"]
    code, out = invoke("run", str(qa_file), "--model", "fake", "--name", "base", *common)
    assert code == 0, out
    code, out = invoke("run", str(qa_file), "--model", "scripted", "--name", "cand", *common)
    assert code == 0, out
    return db_path


def report_of(db: Path, refs: list[str], **options: Any) -> dict[str, Any]:
    store = Store(db)
    try:
        return gather_report(store, refs, ReportOptions(**options))
    finally:
        store.close()


def test_html_report_of_one_run(run_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, text = invoke("report", "cand", "--out", str(out), "--db", str(run_db))
    assert code == 0, text
    page = out.read_text()
    parsed = tags(page)
    # one script (the filter), plots as SVG data URIs, nothing fetched from anywhere
    assert len(parsed.named("script")) == 1
    images = parsed.named("img")
    assert len(images) == 3  # exact_match, token_f1, latency
    assert all(str(img["src"]).startswith("data:image/svg+xml;base64,") for img in images)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert not parsed.named("link")
    policy = next(m for m in parsed.named("meta") if m.get("http-equiv"))
    assert "default-src 'none'" in str(policy["content"])
    # the response holding a script is text
    assert PAYLOAD not in page
    assert "&lt;script&gt;document.title=&#39;pwned&#39;" in page
    # the configuration and metrics from the store
    for expected in ("template hash", "dataset fingerprint", "exact_match|", "token_f1|"):
        assert expected in page
    assert 'id="worst-items"' in page and "filter-input" in page


def test_report_data_matches_the_store(run_db: Path) -> None:
    data = report_of(run_db, ["cand"], top=3)
    (run,) = data["runs"]
    store = Store(run_db)
    try:
        row = store.get_run("cand")
        stored = {
            r["metric"]: r
            for r in store.db.query("SELECT * FROM run_metrics WHERE run_id = ?", [row["id"]])
        }
    finally:
        store.close()
    assert run["template_hash"] == row["template_hash"]
    assert run["dataset_fingerprint"] == row["dataset_fingerprint"]
    assert {s["name"] for s in run["scorers"]} == {"exact_match", "token_f1"}
    assert all("|v:" in s["signature"] for s in run["scorers"])
    metrics = {m["label"]: m for m in data["metrics"]}
    em = metrics["exact_match"]["runs"]["cand"]
    assert em["value"] == pytest.approx(stored["exact_match"]["value"]) == pytest.approx(0.7)
    assert (em["ci_low"], em["ci_high"]) == pytest.approx(wilson_interval(7, 10))
    # histograms count every scored item; exact_match has bars at 0 and 1
    dist = {d["label"]: d for d in data["distributions"]}
    assert dist["exact_match"]["kind"] == "binary"
    assert dist["exact_match"]["counts"] == [[3, 7]]
    assert sum(dist["token_f1"]["counts"][0]) == 10
    # worst items: the three failures, with their texts and every score
    worst = [w for w in run["worst"] if w["metric"] == "exact_match"]
    assert {w["item_id"] for w in worst} == {"q1", "q3", "q5"}
    q3 = next(w for w in worst if w["item_id"] == "q3")
    assert q3["response"] == PAYLOAD and q3["input"] == "What is 3 plus 3?"
    assert set(q3["scores"]) == {"exact_match", "token_f1"}
    assert run["tokens"]["responses"] == 10 and run["tokens"]["errors"] == 0
    assert data["comparison"] is None and data["slices"] is None
    assert data["toxicity"] is None and data["hallucination"] is None
    assert run["judge"] is None and run["human"] is None
    json.dumps(data)  # plain and JSON-safe


def test_comparison_is_what_compare_runs_reports(run_db: Path) -> None:
    data = report_of(run_db, ["base", "cand"], by="category", min_slice=3)
    store = Store(run_db)
    try:
        settings = Settings(by="category", min_slice=3, top=10)
        expected = compare_runs(store, ["base", "cand"], settings).to_dict()
    finally:
        store.close()
    assert data["comparison"] == expected
    # the regressions carry full texts and both responses
    regressions = [r for r in data["regressions"] if r["metric"] == "exact_match"]
    assert {r["item_id"] for r in regressions} == {"q1", "q3", "q5"}
    q3 = next(r for r in regressions if r["item_id"] == "q3")
    assert q3["candidate_response"] == PAYLOAD and q3["baseline_response"] == "6"
    page = render_html(data)
    assert "Comparison" in page and "Largest regressions" in page
    # histograms, slice bars, the differences plot, latency
    assert len(tags(page).named("img")) == 2 + 2 + 1 + 1


def test_slices_and_fairness_of_each_run(db_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = rng.random(90)
    passed = (values > 0.4).astype(float)
    groups = ["x", "y", "z"]
    items = [
        {
            "id": f"i{i}",
            "metadata": {"group": groups[i % 3]},
            "scores": [
                ("s", "value", 0, float(values[i]), None),
                ("p", "pass", 0, passed[i], None),
            ],
        }
        for i in range(90)
    ]
    write_run(db_path, "one", items, {"s": "s|v:1", "p": "p|v:1"})
    data = report_of(db_path, ["one"], by="group", resamples=500, min_slice=40)
    slices = {m["label"]: m for m in data["slices"]["metrics"]}
    (entry,) = slices["s/value"]["runs"]
    for g in entry["groups"]:
        members = values[[i for i in range(90) if groups[i % 3] == g["slice"]]]
        assert g["value"] == pytest.approx(members.mean())
        assert g["ci_low"] < g["value"] < g["ci_high"]
        assert g["n"] == 30 and g["small"]
    assert entry["fairness"] is None  # every slice under --min-slice: no fairness figure
    assert "No fairness figures for p/pass (one), s/value (one): fewer than two slices" in (
        render_markdown(data)
    )
    data = report_of(db_path, ["one"], by="group", resamples=500, min_slice=30)
    slices = {m["label"]: m for m in data["slices"]["metrics"]}
    (entry,) = slices["s/value"]["runs"]
    means = {g["slice"]: g["value"] for g in entry["groups"]}
    fairness = entry["fairness"]
    assert fairness["left_out"] == []
    assert fairness["gap"]["value"] == pytest.approx(max(means.values()) - min(means.values()))
    assert fairness["worst"] == min(means, key=means.__getitem__)
    assert fairness["ratio"] is None
    by_group = [values[[i for i in range(90) if groups[i % 3] == g]] for g in groups]
    scipy_p = scipy.stats.permutation_test(
        by_group, largest_gap_of_means, permutation_type="independent",
        alternative="greater", n_resamples=20000, vectorized=True, rng=1,
    ).pvalue  # fmt: skip
    error = 4 * np.sqrt(scipy_p * (1 - scipy_p) / 500) + 0.005  # 500 shuffles in the report
    assert fairness["gap"]["p_value"] == pytest.approx(scipy_p, abs=error)
    (binary,) = slices["p/pass"]["runs"]
    rates = {g["slice"]: g["value"] for g in binary["groups"]}
    for g in binary["groups"]:  # pass/fail slices: Wilson, as the metrics table
        assert (g["ci_low"], g["ci_high"]) == wilson_interval(g["value"] * g["n"], g["n"])
    assert binary["fairness"]["ratio"]["value"] == pytest.approx(
        min(rates.values()) / max(rates.values())
    )


def test_toxicity_and_hallucination_rates(db_path: Path) -> None:
    rng = np.random.default_rng(3)
    toxicity = rng.random(40) ** 3
    hallucinated = [i % 4 == 0 for i in range(40)]
    signatures = {"toxicity": "toxicity|v:1", "selfcheck_nli": "selfcheck_nli|v:1"}
    items = [
        {
            "id": f"i{i}",
            "scores": [
                ("toxicity", "toxicity", 0, float(toxicity[i]), None),
                ("selfcheck_nli", "support", 0, 0.1 if hallucinated[i] else 0.9, None),
            ],
        }
        for i in range(40)
    ]
    run_id = write_run(db_path, "tox", items, signatures)
    store = Store(db_path)
    try:
        with store.transaction() as conn:
            conn.execute(
                "UPDATE scores SET label = CASE WHEN value < 0.5 THEN 'hallucination' "
                "ELSE 'supported' END WHERE run_id = ? AND scorer = 'selfcheck_nli'",
                [run_id],
            )
        metrics = [mean_metric("toxicity", toxicity.tolist()), flagged_rate(toxicity.tolist(), 0.5)]
        store.replace_run_metrics(run_id, "toxicity", signatures["toxicity"], metrics)
        rate = hallucination_rate(store.load_scores(run_id, "selfcheck_nli"), "support", 0.5, "r")
        store.replace_run_metrics(run_id, "selfcheck_nli", signatures["selfcheck_nli"], [rate])
    finally:
        store.close()
    data = report_of(db_path, ["tox"])
    rows = {r["metric"]: r["runs"]["tox"] for r in data["toxicity"]}
    assert [r["metric"] for r in data["toxicity"]] == ["flagged_rate", "toxicity"]
    flagged = int((toxicity >= 0.5).sum())
    assert rows["flagged_rate"]["value"] == pytest.approx(flagged / 40)
    assert rows["flagged_rate"]["details"]["flagged"] == flagged
    better = {m["label"]: m["lower_is_better"] for m in data["metrics"]}
    assert better["toxicity/flagged_rate"] and better["toxicity"]  # declared by the scorer
    assert not better["selfcheck_nli/support"]
    (hallucination,) = data["hallucination"]
    figures = hallucination["runs"]["tox"]
    assert (figures["flagged"], figures["responses"], figures["n"]) == (10, 40, 40)
    assert (figures["ci_low"], figures["ci_high"]) == pytest.approx(wilson_interval(10, 40))
    stored = next(m for m in data["runs"][0]["metrics"] if m["metric"] == "hallucination_rate")
    assert (figures["value"], figures["ci_low"]) == (stored["value"], stored["ci_low"])
    page = render_html(data)
    assert 'href="#toxicity"' in page and 'href="#hallucination"' in page
    markdown = render_markdown(data)
    assert "## Toxicity" in markdown and "## Hallucination" in markdown
    assert f"{flagged} of 40" in markdown


def _judged_items(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    items = []
    for i in range(n):
        verdicts = [float(rng.integers(1, 6)) for _ in range(2)]
        judgments = [
            {
                "judge": "fake",
                "rubric": "correctness",
                "rubric_hash": "h1",
                "repeat": r,
                "position_order": "single",
                "score": v,
                "weighted_score": None,
                "label": None,
                "raw": json.dumps({"score": v}),
                "reasoning": "canned",
                "parsed_ok": True,
                "error": None,
                "temperature": 0.0,
                "seed": r,
                "created_at": now(),
            }
            for r, v in enumerate(verdicts)
        ]
        details = {"rubric": "correctness", "scale": [1, 2, 3, 4, 5], "judgments": judgments}
        items.append(
            {
                "id": f"i{i}",
                "scores": [("judge", "correctness", 0, sum(verdicts) / 2, details)],
            }
        )
    return items


def test_judge_and_human_sections_when_their_tables_have_rows(db_path: Path) -> None:
    judge_report = pytest.importorskip("harness.judge.report").judge_report
    human_agreement = pytest.importorskip("harness.review.agreement_report").human_agreement
    run_id = write_run(db_path, "judged", _judged_items(30), {"judge": "judge|v:1"})
    write_run(db_path, "plain", [{"id": "i0", "scores": [("s", "v", 0, 1.0, None)]}], {"s": "s"})
    store = Store(db_path)
    try:
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO labels (run_id, item_id, annotator, label_name, value, scale, "
                "created_at, source) VALUES (?, ?, ?, 'correctness', ?, '1-5', ?, 'test')",
                [
                    (run_id, f"i{i}", who, float((i + shift) % 5 + 1), now())
                    for i in range(30)
                    for who, shift in (("ann", 0), ("bob", i % 2))
                ],
            )
        # the report's --confidence reaches judge and human figures alike
        expected_judge = judge_report(
            store, run_id, n_resamples=200, seed=12345, confidence=0.9, top=10
        )
        expected_human = human_agreement(store, run_id, n_resamples=200, confidence=0.9,
                                         seed=12345)  # fmt: skip
    finally:
        store.close()
    data = report_of(db_path, ["judged", "plain"], resamples=200, confidence=0.9)
    judged, plain = data["runs"]
    assert json.loads(json.dumps(expected_judge)) == judged["judge"]
    assert json.loads(json.dumps(expected_human)) == judged["human"]
    assert plain["judge"] is None and plain["human"] is None
    page = render_html(data)
    assert 'href="#judges"' in page and 'href="#humans"' in page
    assert "unstable share" in page and "Cohen&#39;s kappa" in page
    markdown = render_markdown(data)
    assert "## Judge consistency" in markdown and "## Human agreement" in markdown
    # a 1-5 scale: judge vs annotator kappas are quadratic-weighted, and say so
    assert expected_human["correctness"]["judge_human"][0]["kappa_weights"] == "quadratic"
    assert "| judge | annotator | n | exact agreement | Cohen's kappa (quadratic) |" in markdown
    assert "mean kappa (quadratic)" in markdown


def test_everything_from_the_data_is_escaped(db_path: Path, tmp_path: Path) -> None:
    items = [
        {
            "id": f"<b>i{i}</b>",
            "input": IMG_PAYLOAD,
            "metadata": {"group": ["<i>a</i>", "$b$ & c", IMG_PAYLOAD][i % 3]},
            "responses": [PAYLOAD],
            "scores": [("judge", "score", 0, float(i % 5 + 1), None)],
        }
        for i in range(12)
    ]
    write_run(db_path, "<script>x</script>", items, {"judge": "judge|<u>v</u>"})
    out = tmp_path / "r.html"
    code, text = invoke(
        "report", "<script>x</script>", "--by", "group", "--out", str(out), "--db", str(db_path)
    )
    assert code == 0, text
    page = out.read_text()
    parsed = tags(page)
    assert len(parsed.named("script")) == 1
    assert all(str(img["src"]).startswith("data:image/svg+xml") for img in parsed.named("img"))
    assert not any(tag in {"b", "i", "u"} for tag, _ in parsed.tags)
    assert not any("onerror" in attrs for _, attrs in parsed.tags)
    markdown = render_markdown(report_of(db_path, ["<script>x</script>"], by="group"))
    assert "<script>" not in markdown and "<img" not in markdown and "<b>" not in markdown
    assert "&lt;script&gt;x&lt;/script&gt;" in markdown


def test_markdown_escape() -> None:
    assert escape("a|b") == "a\\|b"
    assert escape("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert escape("exact_match [0.5, 0.7]") == "exact_match [0.5, 0.7]"
    assert escape("[link](http://x)") == "[link\\](http://x)"
    assert escape("**bold** _it_\nnext") == "\\*\\*bold\\*\\* \\_it\\_ next"


def test_markdown_report_from_the_cli(run_db: Path, tmp_path: Path) -> None:
    code, text = invoke("report", "base", "cand", "--format", "markdown", "--db", str(run_db))
    assert code == 0, text
    assert text.startswith("# harness report: base vs cand")
    for heading in ("## Runs", "## Metrics", "## Comparison", "## Worst items"):
        assert heading in text
    assert "data:image" not in text and "<img" not in text
    assert "McNemar exact" in text
    assert "&lt;script&gt;document.title=" in text
    out = tmp_path / "summary.md"
    code, _ = invoke("report", "cand", "--format", "markdown", "-o", str(out), "--db", str(run_db))
    assert code == 0 and out.read_text().startswith("# harness report: cand")


def test_cli_errors_and_overwriting(run_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    db = ["--db", str(run_db)]
    assert invoke("report", "cand", "--out", str(out), *db)[0] == 0
    first = out.read_text()
    code, text = invoke("report", "base", "--out", str(out), *db)
    assert code == 2 and "already exists; pass --force" in text
    assert out.read_text() == first
    assert invoke("report", "base", "--out", str(out), "--force", *db)[0] == 0
    assert "harness report: base" in out.read_text()
    code, text = invoke("report", "cand", *db)
    assert code == 2 and "--out FILE" in text
    code, text = invoke("report", "cand", "--format", "pdf", "-o", str(tmp_path / "x"), *db)
    assert code == 2 and "--format must be one of" in text
    code, text = invoke("report", "cand", "--by", "colour", "-o", str(tmp_path / "y"), *db)
    assert code == 2 and "--by 'colour'" in text and "category" in text
    code, text = invoke("report", "nope", "-o", str(tmp_path / "z"), *db)
    assert code == 2 and "no run 'nope'" in text
    code, text = invoke("report", "cand", "cand", "-o", str(tmp_path / "w"), *db)
    assert code == 2 and "named twice" in text
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()


def test_a_missing_out_folder_is_refused_as_by_export(run_db: Path, tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    code, text = invoke("report", "cand", "--out", str(nowhere / "r.html"), "--db", str(run_db))
    assert code == 2 and f"folder {nowhere} does not exist" in text, text
    assert not nowhere.exists()


def test_item_means_of_an_unfinished_run_keep_to_the_metric_range(db_path: Path) -> None:
    """Without a stored aggregate the interval is cut where the scorer's values end, as
    run_metrics would be (token F1 lies in [0, 1])."""
    values = [1.0, 1.0, 0.95, 1.0, 0.9]
    items = [
        {"id": f"i{i}", "scores": [("token_f1", "token_f1", 0, v, None)]}
        for i, v in enumerate(values)
    ]
    write_run(db_path, "open", items, {"token_f1": "token_f1|v:1"})
    figures = report_of(db_path, ["open"])["metrics"][0]["runs"]["open"]
    assert figures["source"] == "item means"
    assert mean_ci(values)[2] > 1  # a t interval past the largest F1
    assert (figures["value"], figures["ci_low"], figures["ci_high"]) == pytest.approx(
        mean_ci(values, bounds=(0.0, 1.0))
    )
    assert figures["ci_high"] == 1.0


def test_a_constant_slice_gets_no_interval(db_path: Path) -> None:
    """Ten equal values on a 1-5 scale: a bootstrap claims [3, 3]; no interval instead."""
    items = [
        {"id": f"i{i}", "metadata": {"g": "a" if i < 10 else "b"},
         "scores": [("judge", "score", 0, 3.0 if i < 10 else float(1 + i % 5), None)]}
        for i in range(20)
    ]  # fmt: skip
    write_run(db_path, "one", items, {"judge": "judge|v:1"})
    data = report_of(db_path, ["one"], by="g", resamples=200)
    (metric,) = data["slices"]["metrics"]
    groups = {g["slice"]: g for g in metric["runs"][0]["groups"]}
    assert groups["a"]["value"] == 3.0 and groups["a"]["ci_low"] is None
    assert groups["b"]["ci_low"] < groups["b"]["value"] < groups["b"]["ci_high"]


@pytest.mark.usefixtures("fake_registered")
def test_an_unfinished_runs_bleu_is_the_corpus_value_of_its_statistics(
    qa_file: Path, db_path: Path
) -> None:
    """A killed run stored no run_metrics: BLEU comes from the stored sentence statistics
    as the scorer's own aggregate computes it, not as a mean of sentence BLEU."""
    code, out = invoke("run", str(qa_file), "--model", "fake", "--scorers", "bleu",
                       "--name", "killed", "--db", str(db_path), "--no-progress")  # fmt: skip
    assert code == 0, out
    store = Store(db_path)
    try:
        stored = store.conn.execute(
            "SELECT value, ci_low, ci_high, n FROM run_metrics WHERE scorer = 'bleu'"
        ).fetchone()
        with store.transaction():
            store.conn.execute("DELETE FROM run_metrics")
    finally:
        store.close()
    figures = report_of(db_path, ["killed"])["metrics"][0]["runs"]["killed"]
    assert figures["source"] == "corpus statistics"
    assert (figures["value"], figures["ci_low"], figures["ci_high"], figures["n"]) == (
        pytest.approx(stored[0]),
        pytest.approx(stored[1]),
        pytest.approx(stored[2]),
        stored[3],
    )
    page = render_markdown(report_of(db_path, ["killed"]))
    assert "from stored statistics" in page


def test_stored_intervals_say_their_own_level(run_db: Path) -> None:
    """--confidence 0.8 recomputes comparisons and slices, not the stored 95% run metrics:
    the captions say which level each figure has."""
    page = render_markdown(report_of(run_db, ["base", "cand"], confidence=0.8))
    assert "value [95% CI] per run, as the run stored it" in page
    assert "80% intervals for comparisons, slices, judges and human agreement" in page


def test_a_comparison_with_every_metric_skipped_still_says_so(db_path: Path) -> None:
    items = [{"id": f"i{i}", "scores": [("s", "v", 0, 0.5, None)]} for i in range(6)]
    write_run(db_path, "a", items, {"s": "s|threshold:0.5"})
    write_run(db_path, "b", items, {"s": "s|threshold:0.3"})
    data = report_of(db_path, ["a", "b"])
    markdown = render_markdown(data)
    assert "## Comparison" in markdown and "skipped s/v: scorer signatures differ" in markdown


def test_json_format_is_the_report_data(run_db: Path) -> None:
    code, text = invoke("report", "cand", "--format", "json", "--db", str(run_db))
    assert code == 0, text
    data = json.loads(text)
    assert data["run_names"] == ["cand"]
    assert {m["label"] for m in data["metrics"]} == {"exact_match", "token_f1"}


def test_metric_without_stored_aggregate_falls_back_to_item_means(db_path: Path) -> None:
    values = [0.2, 0.4, 0.9, 0.5]
    items = [{"id": f"i{i}", "scores": [("s", "v", 0, v, None)]} for i, v in enumerate(values)]
    write_run(db_path, "open", items, {"s": "s|v:1"})
    data = report_of(db_path, ["open"])
    (metric,) = data["metrics"]
    figures = metric["runs"]["open"]
    assert figures["source"] == "item means"
    assert (figures["value"], figures["ci_low"], figures["ci_high"]) == pytest.approx(
        mean_ci(values)
    )


def test_report_help() -> None:
    code, text = invoke("report", "--help")
    assert code == 0
    for option in ("--out", "--format", "--by", "--force", "--db", "--top"):
        assert option in text


def test_a_pairwise_comparison_of_two_runs_is_one_row(db_path: Path) -> None:
    from tests.test_review import add_verdicts

    sig = {"judge": "judge|v:1"}
    items = [{"id": f"q{i}", "scores": [("judge", "score", 0, 0.5, None)]} for i in range(6)]
    a_id = write_run(db_path, "ra", items, sig)
    b_id = write_run(db_path, "rb", items, sig)
    add_verdicts(
        db_path,
        a_id,
        [
            (f"q{i}", "j", "preference", 0, s, o)
            for i in range(6)
            for o, s in (("AB", 1.0), ("BA", 0.5))
        ],
        versus=b_id,
    )
    markdown = render_markdown(report_of(db_path, ["ra", "rb"]))
    rows = [line for line in markdown.splitlines() if line.startswith("| ra (sample 0) | rb |")]
    assert len(rows) == 1, markdown
    # a second comparison, of the runs' samples 1, is a row of its own
    verdicts = [(f"q{i}", "j", "preference", 0, 1.0, o) for i in range(6) for o in ("AB", "BA")]
    add_verdicts(db_path, a_id, verdicts, versus=b_id, sample=1)
    markdown = render_markdown(report_of(db_path, ["ra", "rb"]))
    assert "| ra (sample 0) | rb |" in markdown and "| ra (sample 1) | rb |" in markdown
    assert "| rb | rb |" not in markdown and f"| {b_id} |" not in markdown


def test_differences_on_different_scales_get_their_own_plots() -> None:
    """BLEU's points beside a 0-1 share on one axis shrink the share's difference to a dot."""
    from harness.report.views_extra import _by_scale

    share = {"value": 0.15, "ci_low": -0.05, "ci_high": 0.35}
    bleu = {"value": 12.0, "ci_low": 3.0, "ci_high": 20.0}
    unchanged = {"value": 0.0, "ci_low": None, "ci_high": None}
    assert _by_scale([bleu, share, unchanged]) == [[share, unchanged], [bleu]]


def test_a_run_with_nothing_scored_says_so(db_path: Path) -> None:
    items = [{"id": f"i{i}", "scores": [("s", "v", 0, None, None)]} for i in range(3)]
    write_run(db_path, "broken", items, {"s": "s|v:1"})
    markdown = render_markdown(report_of(db_path, ["broken"]))
    assert "No item of broken was scored" in markdown
    run = report_of(db_path, ["broken"])["runs"][0]
    assert run["tokens"]["prompt_tokens"] is None  # none known: not 0


def test_right_to_left_slice_labels_are_left_to_the_browser() -> None:
    """matplotlib draws glyphs left to right without joining them: an Arabic or Hebrew
    label keeps its text (logical order) for the browser to lay out; others are paths."""
    import base64

    from harness.report import plots

    def svg(groups: list[str]) -> str:
        rows = [{"slice": g, "value": 0.5, "ci_low": 0.4, "ci_high": 0.6} for g in groups]
        uri = plots.slice_bars({"label": "m", "runs": [{"run": "r", "groups": rows}]}, groups)
        return base64.b64decode(uri.split(",", 1)[1]).decode()

    mixed = svg(["العربية", "עברית", "english"])
    assert ">العربية<" in mixed and ">עברית<" in mixed
    assert "<text" not in svg(["english", "français"])
