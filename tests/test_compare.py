"""`harness compare` and `harness gate` end to end: runs made by `harness run` (fake
adapters) or written straight into the store."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
import scipy.stats
from typer.testing import CliRunner

from harness import registry
from harness.adapters.base import AdapterOptions, Response
from harness.cli import app
from harness.errors import HarnessError
from harness.item import Item
from harness.scorers.base import ScoreRecord
from harness.stats import wilson_interval
from harness.store.db import ItemResult, Store, dumps, now
from tests.fakes import FakeAdapter

runner = CliRunner()


class ScriptedAdapter(FakeAdapter):
    """The fake adapter with replies set per test (the CLI cannot reach an instance)."""

    name = "scripted"
    script: ClassVar[dict[str, str]] = {}

    def __init__(self, model: str = "", options: AdapterOptions | None = None) -> None:
        super().__init__(model, options)
        self.replies = dict(ScriptedAdapter.script)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        if isinstance(result.exception, HarnessError):
            return 2, str(result.exception)
        raise result.exception
    return result.exit_code, result.output


def write_run(
    db: Path,
    name: str,
    items: list[dict[str, Any]],
    signatures: dict[str, str],
    scorer_options: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Store a finished run directly. Each item: id, input, metadata, responses, and
    scores as (scorer, metric, sample, value, details) tuples."""
    store = Store(db)
    try:
        stamp = now()
        store.create_run(
            {
                "id": f"id-{name}",
                "name": name,
                "status": "completed",
                "created_at": stamp,
                "updated_at": stamp,
                "n_items": len(items),
                "config": dumps({"scorers": signatures, "scorer_options": scorer_options or {}}),
            }
        )
        results = []
        for row, spec in enumerate(items):
            item = Item(
                id=spec["id"],
                input=spec.get("input", f"question {spec['id']}"),
                metadata=spec.get("metadata", {}),
                row=row,
            )
            responses = [Response(text=text) for text in spec.get("responses", ["answer"])]
            scores = [
                (scorer, signatures[scorer], ScoreRecord(item.id, sample, metric, value, None, d))
                for scorer, metric, sample, value, d in spec["scores"]
            ]
            results.append(ItemResult(item, (), responses, scores))
        store.write_results(f"id-{name}", results)
    finally:
        store.close()
    return f"id-{name}"


def scored(values: dict[str, list[float | None]], metric: str = "score") -> list[dict[str, Any]]:
    """Items i0.. with one metric of scorer 'judge' (one value per sample)."""
    n = len(next(iter(values.values())))
    return [
        {
            "id": f"i{i}",
            "metadata": {"group": "a" if i % 3 else "b"},
            "scores": [("judge", metric, s, v[i], None) for s, v in enumerate(values.values())],
        }
        for i in range(n)
    ]


@pytest.fixture
def qa_runs(
    qa_file: Path, db_path: Path, fake_registered: None, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Two runs of the QA set through `harness run`: the baseline answers everything right,
    the candidate gets q1, q3 and q5 wrong (q3 half right)."""
    monkeypatch.setitem(registry.BUILTIN_ADAPTERS, "scripted", "tests.test_compare:ScriptedAdapter")
    monkeypatch.setattr(ScriptedAdapter, "script", {"q1": "nope", "q3": "6 maybe", "q5": "x"})
    common = ["--scorers", "exact_match,token_f1", "--db", str(db_path), "--no-progress"]
    code, out = invoke("run", str(qa_file), "--model", "fake", "--name", "base", *common)
    assert code == 0, out
    code, out = invoke("run", str(qa_file), "--model", "scripted", "--name", "cand", *common)
    assert code == 0, out
    return db_path


def compare_json(db: Path, *args: str) -> dict[str, Any]:
    code, out = invoke("compare", *args, "--db", str(db), "--json")
    assert code == 0, out
    return json.loads(out)


def test_compare_reports_paired_tests_and_regressions(qa_runs: Path) -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    report = compare_json(qa_runs, "base", "cand")
    (comparison,) = report["comparisons"]
    assert comparison["items"]["shared"] == 10
    assert comparison["items"]["only_baseline"] == comparison["items"]["only_candidate"] == 0
    metrics = {m["metric"]: m for m in comparison["metrics"]}
    em = metrics["exact_match"]
    assert em["kind"] == "binary" and em["test"] == "McNemar exact"
    assert em["baseline"]["value"] == 1.0 and em["candidate"]["value"] == pytest.approx(0.7)
    assert em["difference"]["value"] == pytest.approx(-0.3)
    # Agresti-Min for 3 of 10 lost, none gained: (-3 -+ 1.96 sqrt(4 - 9/12)) / 12; like
    # McNemar's exact p (0.25), it does not rule out no change (the bootstrap's [-0.6, 0]
    # reaches further down and keeps the lower end)
    half = 1.959964 * math.sqrt(4 - 9 / 12) / 12
    assert em["difference"]["ci_low"] <= -0.25 - half
    assert em["difference"]["ci_high"] == pytest.approx(-0.25 + half, abs=1e-6)
    assert em["difference"]["ci_high"] > 0
    assert em["p_value"] == pytest.approx(mcnemar([[7, 3], [0, 0]], exact=True).pvalue)
    assert (em["wins"], em["ties"], em["losses"]) == (0, 7, 3)
    assert {r["item_id"] for r in em["regressions"]} == {"q1", "q3", "q5"}
    q3 = next(r for r in em["regressions"] if r["item_id"] == "q3")
    assert q3["input"] == "What is 3 plus 3?"
    assert q3["baseline_response"] == "6" and q3["candidate_response"] == "6 maybe"
    f1 = metrics["token_f1"]
    assert f1["kind"] == "continuous" and f1["test"] == "approximate randomization"
    assert f1["candidate"]["value"] == pytest.approx((7 + 2 / 3) / 10)
    assert f1["regressions"][0]["item_id"] in {"q1", "q5"}
    assert f1["regressions"][-1]["item_id"] == "q3"
    # Holm over the two metrics: the smaller p is doubled, the larger kept (monotone).
    ps = sorted([em["p_value"], f1["p_value"]])
    adjusted = sorted([em["p_adjusted"], f1["p_adjusted"]])
    assert adjusted[0] == pytest.approx(min(1.0, 2 * ps[0]))
    assert adjusted[1] == pytest.approx(max(adjusted[0], ps[1]))


def test_compare_is_reproducible_and_seeded(qa_runs: Path) -> None:
    first = compare_json(qa_runs, "base", "cand", "--seed", "7")
    again = compare_json(qa_runs, "base", "cand", "--seed", "7")
    other = compare_json(qa_runs, "base", "cand", "--seed", "8", "--resamples", "500")
    assert first == again
    ci = [m["difference"] for m in first["comparisons"][0]["metrics"]]
    assert ci != [m["difference"] for m in other["comparisons"][0]["metrics"]]
    assert other["settings"]["resamples"] == 500 and other["settings"]["seed"] == 8
    code, out = invoke("compare", "base", "cand", "--db", str(qa_runs), "--trials", "0")
    assert code != 0 and "--trials" in out
    assert None not in [m["p_randomization"] for m in first["comparisons"][0]["metrics"]]


def test_compare_terminal_and_markdown(qa_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.cli.render import console

    monkeypatch.setattr(console, "width", 200)
    code, out = invoke("compare", "base", "cand", "--db", str(qa_runs))
    assert code == 0, out
    assert (
        "│ exact_match │ McNemar exact " in out
        and "│ token_f1    │ approximate randomization │" in out
    )
    assert "most regressed items" in out
    code, md = invoke("compare", "base", "cand", "--db", str(qa_runs), "--markdown")
    assert code == 0, md
    assert md.startswith("## Run comparison")
    assert "| metric | test | n | baseline | candidate | difference | p (adj.) |" in md
    assert "| exact_match | McNemar exact | 10 | 1 [0.722, 1] | 0.7 [0.397, 0.892] |" in md
    assert "<details><summary>most regressed items: exact_match</summary>" in md
    code, out = invoke("compare", "base", "cand", "--db", str(qa_runs), "--json", "--markdown")
    assert code == 2 and "choose one of --json and --markdown" in out


def test_compare_markdown_escapes_everything_from_the_data(db_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)> a|b **bold**\nnext"

    def items(value: float) -> list[dict[str, Any]]:
        return [
            {
                "id": f"<b>i{i}</b>|",
                "input": hostile,
                "metadata": {"<i>group</i>": ["<u>x</u>", "y|z"][i % 2]},
                "responses": [hostile + "x" * 300],
                "scores": [("judge", "score", 0, value if i < 3 else 1.0, None)],
            }
            for i in range(6)
        ]

    write_run(db_path, "<script>b</script>", items(1.0), {"judge": "judge|<u>v</u>"})
    write_run(db_path, "c|<b>d</b>", items(0.0), {"judge": "judge|<u>v</u>"})
    code, md = invoke("compare", "<script>b</script>", "c|<b>d</b>", "--by", "<i>group</i>",
                      "--db", str(db_path), "--markdown")  # fmt: skip
    assert code == 0, md
    tags = set(re.findall(r"</?([A-Za-z]+)", md))
    assert tags <= {"details", "summary", "sub"}, tags
    assert "&lt;script&gt;b&lt;/script&gt;" in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    for table in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table
    assert "x" * 300 not in md and "…" in md


def default_warnings(db: Path) -> list[str]:
    return list(compare_json(db, "base", "cand", "--by", "category")["warnings"])


def test_compare_by_slices_and_fairness(qa_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = compare_json(qa_runs, "base", "cand", "--by", "category")["comparisons"][0]
    em = next(m for m in default["slices"]["metrics"] if m["metric"] == "exact_match")
    assert em["fairness"] == {"left_out": ["even", "odd"]}  # both under --min-slice 30
    report = compare_json(qa_runs, "base", "cand", "--by", "category", "--min-slice", "5")
    slices = report["comparisons"][0]["slices"]
    assert slices["field"] == "category" and slices["groups"] == {"even": 5, "odd": 5}
    em = next(m for m in slices["metrics"] if m["metric"] == "exact_match")
    by_slice = {s["slice"]: s for s in em["slices"]}
    assert by_slice["even"]["candidate"]["value"] == 1.0
    # 5 of 5 passing is not [1, 1]: Wilson's interval, as in the main table
    assert by_slice["even"]["candidate"]["ci_low"] == pytest.approx(wilson_interval(5, 5)[0])
    assert by_slice["odd"]["candidate"]["value"] == pytest.approx(0.4)
    assert not by_slice["odd"]["small"] and by_slice["odd"]["n"] == 5
    fairness = em["fairness"]["candidate"]
    assert fairness["worst"] == "odd" and fairness["best"] == "even"
    assert fairness["values"] == {"even": 1.0, "odd": pytest.approx(0.4)}
    assert fairness["gap"]["value"] == pytest.approx(0.6)
    # two slices of a 0/1 metric: shuffling labels is Fisher's exact test (5/5 vs 2/5)
    fisher_p = scipy.stats.fisher_exact([[5, 0], [2, 3]]).pvalue
    assert fairness["gap"]["p_value"] == pytest.approx(fisher_p, abs=0.04)
    assert em["fairness"]["baseline"]["gap"]["p_value"] == 1.0  # no gap at all
    assert fairness["ratio"]["value"] == pytest.approx(0.4)
    assert fairness["ratio"]["below_four_fifths"]
    assert em["fairness"]["baseline"]["gap"]["value"] == 0.0
    assert em["fairness"]["gap_change"]["value"] == pytest.approx(0.6)
    assert any("category=odd has 5 items (< 30)" in w for w in default_warnings(qa_runs))
    code, out = invoke("compare", "base", "cand", "--db", str(qa_runs), "--by", "categroy")
    assert code == 2
    assert "--by 'categroy'" in out and "fields: category" in out
    code, out = invoke("compare", "base", "cand", "--db", str(qa_runs), "--by", "category",
                       "--min-slice", "5")  # fmt: skip
    assert code == 0 and "fairness across category" in out
    code, md = invoke("compare", "base", "cand", "--db", str(qa_runs), "--by", "category",
                      "--min-slice", "5", "--markdown")  # fmt: skip
    assert "#### By category" in md and "**Fairness across category**" in md
    code, few = invoke("compare", "base", "cand", "--db", str(qa_runs), "--by", "category",
                       "--markdown")  # fmt: skip
    assert code == 0 and "No fairness figures across category" in few
    assert "| metric | run | worst slice" not in few  # no header-only table

    from harness.compare import slices

    monkeypatch.setattr(slices, "MAX_GROUPS", 1)
    code, out = invoke("compare", "base", "cand", "--db", str(qa_runs), "--by", "category")
    assert code == 2 and "has 2 distinct values; slices need a categorical field" in out
    assert "| exact_match | candidate | odd: 0.4 | even: 1 | 0.6 [" in md


def test_gate_exit_codes(qa_runs: Path) -> None:
    db = str(qa_runs)
    code, out = invoke(
        "gate",
        "cand",
        "--baseline",
        "base",
        "--metric",
        "exact_match",
        "--max-drop",
        "0.05",
        "--db",
        db,
    )
    assert code == 1
    assert out.startswith("FAIL exact_match/exact_match: candidate - baseline = -0.3")
    assert "a drop larger than 0.05 cannot be ruled out" in out
    code, out = invoke(
        "gate",
        "cand",
        "--baseline",
        "base",
        "--metric",
        "exact_match",
        "--max-drop",
        "0.95",
        "--db",
        db,
    )
    assert code == 0 and out.startswith("PASS exact_match/exact_match")
    # Several metrics, one --max-drop each; one failing metric fails the gate.
    code, out = invoke(
        "gate",
        "cand",
        "--baseline",
        "base",
        "--metric",
        "exact_match",
        "--metric",
        "token_f1",
        "--max-drop",
        "0.95",
        "--max-drop",
        "0.01",
        "--db",
        db,
    )
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[0].startswith("PASS exact_match") and lines[1].startswith("FAIL token_f1")
    # The same run against itself: no drop on these 10 items, but 10 pass/fail pairs
    # cannot rule out a 1% loss on the dataset they stand for (only about 16%).
    same = ["gate", "base", "--baseline", "base", "--metric", "token_f1/token_f1", "--db", db]
    code, out = invoke(*same, "--max-drop", "0.01")
    assert code == 1 and "CI -0.1633 to +0.1633" in out, out
    code, out = invoke(*same, "--max-drop", "0.2")
    assert code == 0, out


def test_gate_exit_codes_through_the_entry_point(qa_runs: Path) -> None:
    """`python -m harness gate` as CI runs it: the process exit status itself."""
    import subprocess
    import sys

    def status(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "gate", "cand", "--baseline", "base",
             "--db", str(qa_runs), *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    assert status("--metric", "exact_match", "--max-drop", "0.95")[0] == 0
    assert status("--metric", "exact_match", "--max-drop", "0.05")[0] == 1
    code, out = status("--metric", "nosuch", "--max-drop", "0.05")
    assert code == 2 and out.startswith("error: no metric 'nosuch'")


def test_gate_errors_exit_2(qa_runs: Path) -> None:
    db = str(qa_runs)
    result = runner.invoke(
        app,
        [
            "gate",
            "nosuch",
            "--baseline",
            "base",
            "--metric",
            "exact_match",
            "--max-drop",
            "0.1",
            "--db",
            db,
        ],
    )
    assert result.exit_code == 2 and "no run 'nosuch'" in result.output
    result = runner.invoke(
        app,
        ["gate", "cand", "--baseline", "base", "--metric", "bleu", "--max-drop", "0.1", "--db", db],
    )
    assert result.exit_code == 2
    assert "no metric 'bleu'" in result.output and "exact_match/exact_match" in result.output
    result = runner.invoke(
        app,
        [
            "gate",
            "cand",
            "--baseline",
            "base",
            "--metric",
            "exact_match",
            "--metric",
            "token_f1",
            "--max-drop",
            "0.1",
            "--max-drop",
            "0.2",
            "--max-drop",
            "0.3",
            "--db",
            db,
        ],
    )
    assert result.exit_code == 2 and "2 --metric but 3 --max-drop" in result.output


def test_metric_missing_from_one_run_and_signature_mismatch(
    qa_file: Path, db_path: Path, fake_registered: None
) -> None:
    common = ["--model", "fake", "--db", str(db_path), "--no-progress"]
    assert (
        invoke("run", str(qa_file), "--scorers", "exact_match,token_f1", "--name", "a", *common)[0]
        == 0
    )
    assert (
        invoke(
            "run",
            str(qa_file),
            "--scorers",
            "exact_match",
            "--name",
            "b",
            "--scorer-option",
            "exact_match.normalize=false",
            *common,
        )[0]
        == 0
    )
    report = compare_json(db_path, "a", "b")
    (comparison,) = report["comparisons"]
    assert comparison["metrics"] == []
    reasons = {s["metric"]: s["reason"] for s in comparison["skipped"]}
    assert "scorer signatures differ" in reasons["exact_match"]
    assert "normalize:True" in reasons["exact_match"]
    assert "normalize:False" in reasons["exact_match"]
    assert "has no 'token_f1/token_f1' scores" in reasons["token_f1"]
    assert any("no metric can be compared" in w for w in report["warnings"])
    result = runner.invoke(
        app,
        [
            "gate",
            "b",
            "--baseline",
            "a",
            "--metric",
            "token_f1",
            "--max-drop",
            "0.1",
            "--db",
            str(db_path),
        ],
    )
    assert result.exit_code == 2
    assert "cannot gate on token_f1/token_f1: only in run a" in result.output


def test_runs_without_common_items(db_path: Path) -> None:
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "left", [{"id": "x", "scores": [("judge", "s", 0, 1.0, None)]}], sig)
    write_run(db_path, "right", [{"id": "y", "scores": [("judge", "s", 0, 1.0, None)]}], sig)
    code, out = invoke("compare", "left", "right", "--db", str(db_path))
    assert code == 2 and "have no items in common" in out
    code, out = invoke("compare", "left", "--db", str(db_path))
    assert code == 2 and "at least one candidate" in out


def test_items_in_one_run_only_samples_and_unscored(db_path: Path) -> None:
    """An item's samples count once at their mean; unscored records are left out, counted."""
    sig = {"judge": "judge|v:1"}
    base = [
        {"id": "i0", "scores": [("judge", "s", 0, 0.2, None), ("judge", "s", 1, 0.4, None)]},
        {"id": "i1", "scores": [("judge", "s", 0, 0.5, None)]},
        {"id": "i2", "scores": [("judge", "s", 0, None, {"raw": "??"})]},
        {"id": "only-base", "scores": [("judge", "s", 0, 0.9, None)]},
    ]
    cand = [
        {"id": "i0", "scores": [("judge", "s", 0, 0.6, None)]},
        {"id": "i1", "scores": [("judge", "s", 0, 0.7, None), ("judge", "s", 1, None, None)]},
        {"id": "i2", "scores": [("judge", "s", 0, 0.1, None)]},
        {"id": "only-cand", "scores": [("judge", "s", 0, 0.3, None)]},
    ]
    write_run(db_path, "b", base, sig)
    write_run(db_path, "c", cand, sig)
    report = compare_json(db_path, "b", "c")
    (comparison,) = report["comparisons"]
    assert comparison["items"]["only_baseline_ids"] == ["only-base"]
    assert comparison["items"]["only_candidate_ids"] == ["only-cand"]
    (metric,) = comparison["metrics"]
    assert metric["n"] == 2 and metric["excluded"] == 1
    assert metric["unscored"] == {"baseline": 1, "candidate": 1}
    assert metric["baseline"]["value"] == pytest.approx((0.3 + 0.5) / 2)
    assert metric["candidate"]["value"] == pytest.approx((0.6 + 0.7) / 2)
    assert any(
        "1 items only in the baseline and 1 only in the candidate" in w for w in report["warnings"]
    )


def test_several_candidates_share_one_correction_family(db_path: Path) -> None:
    sig = {"judge": "judge|v:1"}
    ratings = [(i * 7 % 5) + 1.0 for i in range(40)]
    write_run(db_path, "b", scored({"s": ratings}), sig)
    write_run(
        db_path, "c1", scored({"s": [min(5.0, v + i % 2) for i, v in enumerate(ratings)]}), sig
    )
    write_run(db_path, "c2", scored({"s": ratings}), sig)
    report = compare_json(db_path, "b", "c1", "c2", "--correction", "bh")
    c1, c2 = report["comparisons"]
    m1, m2 = c1["metrics"][0], c2["metrics"][0]
    assert m1["kind"] == "ordinal" and m1["test"] == "Wilcoxon signed-rank"
    assert m2["p_value"] == 1.0 and m2["difference"]["value"] == 0.0
    assert m2["p_randomization"] == 1.0 and m2["p_bootstrap"] == 1.0
    # Benjamini-Hochberg over both candidates: the smaller p is doubled.
    assert m1["p_adjusted"] == pytest.approx(min(1.0, 2 * m1["p_value"]))
    assert report["settings"]["correction"] == "bh"


def test_lower_is_better_flips_wins_and_gate(db_path: Path) -> None:
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "b", scored({"s": [0.5] * 40}, metric="toxicity"), sig)
    write_run(db_path, "c", scored({"s": [0.4] * 40}, metric="toxicity"), sig)
    report = compare_json(db_path, "b", "c", "--lower-is-better", "toxicity")
    metric = report["comparisons"][0]["metrics"][0]
    assert not metric["higher_is_better"] and metric["wins"] == 40
    code, out = invoke(
        "gate",
        "c",
        "--baseline",
        "b",
        "--metric",
        "toxicity",
        "--max-drop",
        "0.0",
        "--lower-is-better",
        "toxicity",
        "--db",
        str(db_path),
    )
    assert code == 0 and "upper bound" in out
    code, out = invoke(
        "gate",
        "b",
        "--baseline",
        "c",
        "--metric",
        "toxicity",
        "--max-drop",
        "0.05",
        "--lower-is-better",
        "judge/toxicity",
        "--db",
        str(db_path),
    )
    assert code == 1 and "a rise larger than 0.05" in out


def test_a_nominal_rubric_is_skipped_with_the_reason(db_path: Path) -> None:
    signature = "judge:tone|rubric:tone|scale:nominal|v:1|harness:0.1.0"
    for name, value in (("a", 0.0), ("b", 2.0)):
        items = [{"id": f"i{k}", "scores": [("judge:tone", "tone", 0, value, None)]}
                 for k in range(6)]  # fmt: skip
        write_run(db_path, name, items, {"judge:tone": signature})
    report = compare_json(db_path, "a", "b")
    (comparison,) = report["comparisons"]
    assert comparison["metrics"] == []
    assert "no order or distance" in comparison["skipped"][0]["reason"]


def test_terminal_output_shows_rich_markup_from_the_data_as_text(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.cli.render import console

    monkeypatch.setattr(console, "width", 250)

    def items(value: float) -> list[dict[str, Any]]:
        return [
            {
                "id": f"[/]i{k}",
                "input": "[/bold] q [red]",
                "metadata": {"grp": ["[/]a", "b[/x]"][k % 2]},
                "responses": ["[/] answer"],
                "scores": [("judge", "score", 0, value if k < 4 else 1.0, None)],
            }
            for k in range(8)
        ]

    write_run(db_path, "evil[/]", items(1.0), {"judge": "judge|v:1"})
    write_run(db_path, "cand[/bold]", items(0.0), {"judge": "judge|v:1"})
    code, out = invoke("compare", "evil[/]", "cand[/bold]", "--by", "grp", "--db", str(db_path))
    assert code == 0, out
    assert "evil[/]" in out and "[/]i0" in out and "[/]a" in out
    code, out = invoke("runs", "list", "--db", str(db_path))
    assert code == 0 and "evil[/]" in out


def gate(db: Path, *args: str) -> tuple[int, str]:
    return invoke("gate", "cand", "--baseline", "base", "--db", str(db), *args)


def test_gate_fails_when_the_paired_items_cannot_speak_for_the_run(db_path: Path) -> None:
    base = [0.8] * 60
    cand: list[float | None] = [0.8] * 5 + [None] * 55  # 55 items left unscored
    write_run(db_path, "base", scored({"s0": list(base)}), {"judge": "judge|v:1"})
    write_run(db_path, "cand", scored({"s0": cand}), {"judge": "judge|v:1"})
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.05", "--min-items", "3")
    assert code == 1 and "FAIL" in out and "only 8.3% of the baseline's items" in out
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.05")
    assert code == 1 and "only 5 paired items (--min-items 10)" in out
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.05", "--min-items", "3",
                     "--min-coverage", "0.05")  # fmt: skip
    assert code == 0 and out.startswith("PASS")
    code, out = gate(db_path, "--metric", "score", "--max-drop", "nan")
    assert code == 2 and "finite number" in out


def test_too_few_items_get_no_bootstrap_test(db_path: Path) -> None:
    write_run(db_path, "base", scored({"s0": [0.70, 0.52]}), {"judge": "judge|v:1"})
    write_run(db_path, "cand", scored({"s0": [0.69, 0.50]}), {"judge": "judge|v:1"})
    (metric,) = compare_json(db_path, "base", "cand")["comparisons"][0]["metrics"]
    assert metric["p_value"] == 1.0 and not metric["significant"]
    assert metric["test"].startswith("none (n < 5")


def test_lower_is_better_names_are_checked(db_path: Path) -> None:
    values = [0.1 * k for k in range(12)]
    write_run(db_path, "base", scored({"s0": values}), {"judge": "judge|v:1"})
    write_run(db_path, "cand", scored({"s0": [v + 0.3 for v in values]}), {"judge": "judge|v:1"})
    args = ("--metric", "judge.score", "--max-drop", "0.05")
    code, out = gate(db_path, *args, "--lower-is-better", "judge.score")
    assert code == 1 and "(lower is better)" in out
    code, out = gate(db_path, *args, "--lower-is-better", "judge.scor")
    assert code == 2 and "--lower-is-better judge.scor: no such metric" in out


def test_wilcoxon_and_the_mean_disagreeing_is_called_mixed(db_path: Path) -> None:
    from harness.compare.render import verdict

    base = [5.0] * 100
    cand = [6.0] * 70 + [0.0] * 15 + [5.0] * 15  # many small gains, a few large losses
    write_run(db_path, "base", scored({"s0": base}), {"judge": "judge|v:1"})
    write_run(db_path, "cand", scored({"s0": cand}), {"judge": "judge|v:1"})
    (metric,) = compare_json(db_path, "base", "cand")["comparisons"][0]["metrics"]
    assert metric["test"] == "Wilcoxon signed-rank" and metric["significant"]
    assert metric["difference"]["value"] < 0 and metric["test_direction"] == 1
    assert verdict(metric) == "mixed"


def test_runs_of_different_prompts_under_the_same_ids_are_not_paired_silently(
    db_path: Path,
) -> None:
    items = scored({"s0": [0.5] * 12})
    write_run(db_path, "base", items, {"judge": "judge|v:1"})
    other = [dict(item, input=f"another question {k}") for k, item in enumerate(items)]
    write_run(db_path, "cand", other, {"judge": "judge|v:1"})
    report = compare_json(db_path, "base", "cand")
    assert any("12 shared item id(s) have different inputs" in w for w in report["warnings"])
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.1")
    assert code == 2 and "answered different prompts" in out


def test_pairwise_judging_and_review_pairs_refuse_different_prompts(db_path: Path) -> None:
    from harness.errors import ConfigError
    from harness.judge.pairwise import collect_pairs
    from harness.review.source import resolve_versus
    from harness.store.db import Store

    items = scored({"s0": [0.5] * 3})
    write_run(db_path, "base", items, {"judge": "judge|v:1"})
    other = [dict(item, input=f"another question {k}") for k, item in enumerate(items)]
    write_run(db_path, "cand", other, {"judge": "judge|v:1"})
    store = Store(db_path)
    try:
        with pytest.raises(ConfigError, match="answered different prompts"):
            collect_pairs(store, "base", "cand")
        with pytest.raises(ConfigError, match="answered different prompts"):
            resolve_versus(store, "id-base", "cand")
    finally:
        store.close()


def test_gate_with_no_drop_allowed_passes_a_run_against_itself(db_path: Path) -> None:
    """The CI bound equal to -max-drop rules out any larger drop: identical runs pass
    --max-drop 0, and no bound reads "-0"."""
    sig = {"judge": "judge|v:1"}
    values = {"s": [0.2, 0.4, 0.6, 0.8] * 10}
    write_run(db_path, "b", scored(values), sig)
    write_run(db_path, "c", scored(values), sig)
    code, out = invoke(
        "gate", "c", "--baseline", "b", "--metric", "score", "--max-drop", "0", "--db", str(db_path)
    )
    assert code == 0, out
    assert out.startswith("PASS") and "-0" not in out


def test_gate_refuses_a_run_that_did_not_finish(db_path: Path) -> None:
    """An interrupted baseline holds only the items it reached: coverage measured against
    them would pass a candidate on part of the dataset."""
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "b", scored({"s": [0.5] * 40}), sig)
    write_run(db_path, "c", scored({"s": [0.5] * 40}), sig)
    store = Store(db_path)
    try:
        store.update_run(str(store.get_run("b")["id"]), status="interrupted")
    finally:
        store.close()
    code, out = invoke(
        "gate",
        "c",
        "--baseline",
        "b",
        "--metric",
        "score",
        "--max-drop",
        "0.1",
        "--db",
        str(db_path),
    )
    assert code == 2 and "is interrupted, not completed" in out and "--name b --resume" in out


@pytest.mark.parametrize("field", ['meta"<x>', "a.b", "lang"])
def test_by_reads_any_field_name(db_path: Path, field: str) -> None:
    """A field name holding a quote or a dot is one key, not a JSON path."""
    sig = {"judge": "judge|v:1"}

    def items(value: float) -> list[dict[str, Any]]:
        return [
            {"id": f"i{i}", "metadata": {field: "en" if i % 2 else "de", "other": 1},
             "scores": [("judge", "score", 0, value, None)]}
            for i in range(12)
        ]  # fmt: skip

    write_run(db_path, "b", items(0.5), sig)
    write_run(db_path, "c", items(0.6), sig)
    report = compare_json(db_path, "b", "c", "--by", field)
    groups = report["comparisons"][0]["slices"]["groups"]
    assert sorted(groups) == ["de", "en"], groups
    from harness.report import ReportOptions, gather_report

    store = Store(db_path)
    try:
        data = gather_report(store, ["b"], ReportOptions(by=field))
    finally:
        store.close()
    text = json.dumps(data["slices"])
    assert '"en"' in text and "(missing)" not in text, text[:500]


def test_boolean_metadata_slices_read_true_and_false(db_path: Path) -> None:
    sig = {"judge": "judge|v:1"}
    items = [
        {"id": f"i{i}", "metadata": {"flag": i % 3 == 0, "n": i % 2},
         "scores": [("judge", "score", 0, 0.5, None)]}
        for i in range(12)
    ]  # fmt: skip
    write_run(db_path, "b", items, sig)
    write_run(db_path, "c", items, sig)
    groups = compare_json(db_path, "b", "c", "--by", "flag")["comparisons"][0]["slices"]["groups"]
    assert groups == {"false": 8, "true": 4}
    groups = compare_json(db_path, "b", "c", "--by", "n")["comparisons"][0]["slices"]["groups"]
    assert groups == {"0": 6, "1": 6}


def test_gate_bound_and_coverage_equal_to_the_limit_pass(db_path: Path) -> None:
    """Every item 0.02 lower with --max-drop 0.02, and 7 of 100 items at --min-coverage
    0.07: float rounding (-0.020000000000000004, 7.000000000000001) must not fail them."""
    sig = {"judge": "judge|v:1"}
    base = [0.5 + 0.01 * (k % 7) for k in range(40)]
    write_run(db_path, "base", scored({"s0": base}), sig)
    write_run(db_path, "cand", scored({"s0": [v - 0.02 for v in base]}), sig)
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.02")
    assert code == 0 and out.startswith("PASS"), out
    write_run(db_path, "b100", scored({"s0": [0.5] * 100}), sig)
    write_run(db_path, "c7", scored({"s0": [0.5] * 7 + [None] * 93}), sig)
    code, out = invoke(
        "gate", "c7", "--baseline", "b100", "--metric", "score", "--max-drop", "0.1",
        "--min-items", "5", "--min-coverage", "0.07", "--db", str(db_path),
    )  # fmt: skip
    assert code == 0, out


def test_compare_warns_when_many_shared_items_are_unscored_in_one_run(db_path: Path) -> None:
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "base", scored({"s0": [0.4] * 20 + [0.8] * 20}), sig)
    write_run(db_path, "cand", scored({"s0": [None] * 20 + [0.6] * 20}), sig)
    warnings = compare_json(db_path, "base", "cand")["warnings"]
    assert any("leaves out 20 of 40 shared items" in w for w in warnings), warnings


def test_a_metric_too_small_to_test_stays_out_of_the_adjustment(db_path: Path) -> None:
    """Holm over the tested metrics only: a p of 1 from 'none (n < 5)' is no hypothesis."""
    sig = {"judge": "judge|v:1", "other": "other|v:1"}
    base = [0.1 * (k % 10) for k in range(30)]
    cand = [v + 0.05 * (k % 3) for k, v in enumerate(base)]

    def items(values: list[float], few: float) -> list[dict[str, Any]]:
        return [
            {"id": f"i{k}", "scores": [("judge", "score", 0, v, None)]
             + ([("other", "tiny", 0, few, None)] if k < 3 else [])}
            for k, v in enumerate(values)
        ]  # fmt: skip

    write_run(db_path, "base", items(base, 0.2), sig)
    write_run(db_path, "cand", items(cand, 0.9), sig)
    metrics = {
        m["metric"]: m for m in compare_json(db_path, "base", "cand")["comparisons"][0]["metrics"]
    }
    assert metrics["tiny"]["test"].startswith("none (n < 5")
    assert metrics["tiny"]["p_adjusted"] == 1.0 and not metrics["tiny"]["significant"]
    assert metrics["score"]["p_adjusted"] == metrics["score"]["p_value"]  # a family of one


def test_gate_fails_a_candidate_that_scored_none_of_the_items(db_path: Path) -> None:
    """0 of 40 items scored in both runs is a failed candidate (exit 1), as 1 of 40 is,
    not bad input (exit 2)."""
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "base", scored({"s0": [0.5] * 40}), sig)
    write_run(db_path, "cand", scored({"s0": [None] * 40}), sig)
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.1")
    assert code == 1, out
    assert out.startswith("FAIL judge/score: no item of the baseline's 40 is scored in both")
    code, out = invoke("gate", "cand", "--baseline", "base", "--metric", "score",
                       "--max-drop", "0.1", "--json", "--db", str(db_path))  # fmt: skip
    assert code == 1 and json.loads(out)[0]["bound"] is None


def test_gate_on_pass_fail_items_never_claims_certainty_from_few_pairs(db_path: Path) -> None:
    """10 items passing in both runs: the bootstrap interval is [0, 0], but a 0.1 loss
    rate cannot be ruled out (Agresti-Min: +-0.163). 200 such items can rule it out."""
    from harness.stats import paired_proportion_difference

    assert paired_proportion_difference(0, 0, 10) == pytest.approx(
        (-1.96 / 12, 1.96 / 12), abs=1e-3
    )
    # the published example of R's PropCIs::diffpropci.mp(b = 40, c = 20, n = 160)
    assert paired_proportion_difference(40, 20, 160) == pytest.approx(
        (-0.21601726, -0.03089632), abs=1e-8
    )
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "base", scored({"s0": [1.0] * 10}), sig)
    write_run(db_path, "cand", scored({"s0": [1.0] * 10}), sig)
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.1")
    assert code == 1 and "a drop larger than 0.1 cannot be ruled out" in out, out
    write_run(db_path, "b200", scored({"s0": [1.0] * 200}), sig)
    write_run(db_path, "c200", scored({"s0": [1.0] * 200}), sig)
    code, out = invoke("gate", "c200", "--baseline", "b200", "--metric", "score",
                       "--max-drop", "0.1", "--db", str(db_path))  # fmt: skip
    assert code == 0, out


def test_pass_fail_shares_over_samples_never_claim_certainty_either(db_path: Path) -> None:
    """A pass/fail judge over 2 samples gives items 0, 0.5 and 1: identical runs of 20 items
    must not read as 'no drop possible' ([0, 0] from the bootstrap); 400 items can. A
    metric of single 0.5 values is no share (test_gate_with_no_drop_allowed...)."""
    sig = {"judge": "judge|v:1"}
    samples = {"s0": [1.0, 1.0, 1.0, 1.0, 0.0] * 4, "s1": [1.0, 0.0, 1.0, 1.0, 0.0] * 4}
    write_run(db_path, "base", scored(samples), sig)
    write_run(db_path, "cand", scored(samples), sig)
    (metric,) = compare_json(db_path, "base", "cand")["comparisons"][0]["metrics"]
    assert metric["kind"] == "shares" and metric["test"] == "approximate randomization"
    difference = metric["difference"]
    assert difference["ci_low"] == pytest.approx(-1.96 / 22, abs=1e-3)
    assert difference["ci_high"] == pytest.approx(1.96 / 22, abs=1e-3)
    candidate = metric["candidate"]
    assert candidate["ci_low"] < candidate["value"] < candidate["ci_high"]
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.05")
    assert code == 1 and "a drop larger than 0.05 cannot be ruled out" in out, out
    many = {name: values * 20 for name, values in samples.items()}
    write_run(db_path, "b400", scored(many), sig)
    write_run(db_path, "c400", scored(many), sig)
    code, out = invoke("gate", "c400", "--baseline", "b400", "--metric", "score",
                       "--max-drop", "0.05", "--db", str(db_path))  # fmt: skip
    assert code == 0, out


@pytest.mark.parametrize(
    "base, cand",
    [
        ([1.0] * 25 + [0.0] * 5, [1.0] * 22 + [0.0] * 6 + [1.0] * 2),  # pass/fail
        ([0.1 * (i % 9) for i in range(30)], [0.1 * (i % 7) for i in range(30)]),
    ],
)
def test_gate_decides_on_the_interval_compare_reports(
    db_path: Path, base: list[float], cand: list[float]
) -> None:
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "base", scored({"s0": list(base)}), sig)
    write_run(db_path, "cand", scored({"s0": list(cand)}), sig)
    shown = compare_json(db_path, "base", "cand", "--seed", "7", "--by", "group")
    shown = shown["comparisons"][0]
    (metric,) = shown["metrics"]
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.5", "--seed", "7", "--json")
    assert code == 0, out
    (decided,) = json.loads(out)
    assert (decided["ci_low"], decided["ci_high"]) == (
        metric["difference"]["ci_low"],
        metric["difference"]["ci_high"],
    )
    (by_slice,) = shown["slices"]["metrics"]
    slices = by_slice["slices"]
    assert [row["slice"] for row in slices] == ["a", "b"]
    for row in slices:
        difference = row["difference"]
        assert difference["ci_low"] < difference["value"] < difference["ci_high"]


def test_no_difference_interval_from_a_bootstrap_of_four_items(db_path: Path) -> None:
    """Four paired 0-1 scores: a bootstrap redraws the same few values, so compare gives
    the difference without an interval and gate refuses to decide on it."""
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "base", scored({"s0": [0.2, 0.4, 0.6, 0.8]}), sig)
    write_run(db_path, "cand", scored({"s0": [0.3, 0.5, 0.7, 0.9]}), sig)
    (metric,) = compare_json(db_path, "base", "cand")["comparisons"][0]["metrics"]
    assert metric["difference"]["value"] == pytest.approx(0.1)
    assert metric["difference"]["ci_low"] is None and metric["difference"]["ci_high"] is None
    code, out = gate(db_path, "--metric", "score", "--max-drop", "0.5", "--min-items", "1")
    assert code == 1 and "too few to resample" in out, out


def test_slices_take_the_metric_kind_of_the_whole_metric(db_path: Path) -> None:
    """A slice of a 1-5 metric that happens to hold only 1s is no pass/fail share: it gets
    no Wilson interval, nor the bootstrap's zero-width [1, 1]: none."""
    sig = {"judge": "judge|v:1"}
    base = [1.0 if i % 3 == 0 else 3.7 for i in range(60)]
    cand = [1.0 if i % 3 == 0 else 3.9 for i in range(60)]
    write_run(db_path, "base", scored({"s0": base}), sig)
    write_run(db_path, "cand", scored({"s0": cand}), sig)
    report = compare_json(db_path, "base", "cand", "--by", "group", "--min-slice", "5")
    (metric,) = report["comparisons"][0]["slices"]["metrics"]
    ones = next(s for s in metric["slices"] if s["slice"] == "b")
    assert ones["baseline"]["value"] == 1.0
    assert ones["baseline"]["ci_low"] is None and ones["baseline"]["ci_high"] is None


def test_an_unscored_lower_is_better_metric_keeps_its_direction(db_path: Path) -> None:
    sig = {"judge": "judge|v:1"}
    write_run(db_path, "base", scored({"s0": [0.5] * 40}), sig)
    write_run(db_path, "cand", scored({"s0": [None] * 40}), sig)
    code, out = invoke(
        "gate", "cand", "--baseline", "base", "--metric", "score", "--max-drop", "0.1",
        "--lower-is-better", "score", "--json", "--db", str(db_path),
    )  # fmt: skip
    assert code == 1 and json.loads(out)[0]["higher_is_better"] is False


def test_runs_load_from_one_snapshot(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `harness score` committing between reading a run's settings and its values must
    not pair new values with old settings: the load reads one snapshot."""
    import sqlite3

    from harness.compare import align

    write_run(db_path, "base", scored({"s0": [1.0] * 6}), {"judge": "judge|v:1"})
    original = align._read_values

    def rescored_meanwhile(*args: Any) -> Any:
        other = sqlite3.connect(db_path)
        with other:  # another process's rescore: new values, new settings
            other.execute("UPDATE scores SET value = 0.0, signature = 'judge|v:2'")
            other.execute(
                "UPDATE runs SET config = ?", [json.dumps({"scorers": {"judge": "judge|v:2"}})]
            )
        other.close()
        return original(*args)

    monkeypatch.setattr(align, "_read_values", rescored_meanwhile)
    store = Store(db_path)
    try:
        (run,) = align.load_runs(store, ["base"])
        metric = run.metrics[("judge", "score")]
        assert metric.signature == "judge|v:1" and metric.values.tolist() == [1.0] * 6
        monkeypatch.setattr(align, "_read_values", original)
        (run,) = align.load_runs(store, ["base"])  # the next load sees the rescore whole
        metric = run.metrics[("judge", "score")]
        assert metric.signature == "judge|v:2" and metric.values.tolist() == [0.0] * 6
    finally:
        store.close()
