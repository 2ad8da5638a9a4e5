"""Judging end to end: run with --judge, score, judge-report and judge-pairwise."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.judge.rubric import load_rubric
from harness.mockserver import MockConfig, running_mock_server
from tests.conftest import write_jsonl
from tests.judge_fakes import JudgeFake

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        from harness.errors import HarnessError

        if isinstance(result.exception, HarnessError):
            return 2, str(result.exception)
        raise result.exception
    return result.exit_code, result.output


def ok_json(*args: str) -> dict:
    code, out = invoke(*args, "--json")
    assert code == 0, out
    return json.loads(out)


@pytest.fixture
def judge_fake_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN_ADAPTERS, "judgefake", "tests.judge_fakes:JudgeFake")
    JudgeFake.calls.clear()


@pytest.fixture
def answers_file(tmp_path: Path) -> Path:
    """Twelve items with a short and a long answer column (for replay) and a reference."""
    rows = [
        {
            "id": f"q{i}",
            "question": f"Question {i}?",
            "answer": "yes",
            "short": "word " * (1 + i % 3),
            "long": "word " * (2 + i % 3),
        }
        for i in range(12)
    ]
    return write_jsonl(tmp_path / "answers.jsonl", rows)


def _judgments(db: Path, *where: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    sql = "SELECT * FROM judgments" + (" WHERE " + " AND ".join(where) if where else "")
    rows = [dict(r) for r in conn.execute(sql)]
    conn.close()
    return rows


def _run(answers: Path, db: Path, name: str, field: str, *extra: str) -> dict:
    return ok_json(
        "run",
        str(answers),
        "--model",
        f"replay:{field}",
        "--reference-field",
        "answer",
        "--db",
        str(db),
        "--name",
        name,
        "--no-progress",
        *extra,
    )


@pytest.mark.usefixtures("judge_fake_registered")
def test_run_with_judges_stores_judgments_and_reports(answers_file: Path, db_path: Path) -> None:
    summary = _run(
        answers_file,
        db_path,
        "judged",
        "short",
        "--scorers",
        "judge:correctness",
        "--judge",
        "judgefake:noisy",
        "--judge",
        "judgefake:length",
        "--judge-repeats",
        "3",
        "--judge-temperature",
        "0.7",
        "--judge-seed",
        "5",
    )
    metric = next(m for m in summary["metrics"] if m["scorer"] == "judge:correctness")
    assert metric["metric"] == "correctness" and metric["n"] == 12
    assert "judges:judgefake:noisy,judgefake:length" in metric["signature"]
    rows = _judgments(db_path)
    assert len(rows) == 12 * 2 * 3
    assert {r["rubric_hash"] for r in rows} == {load_rubric("correctness").hash}
    assert {r["temperature"] for r in rows} == {0.7}
    assert sorted({r["seed"] for r in rows}) == [5, 6, 7]
    assert {r["position_order"] for r in rows} == {"single"}
    conn = sqlite3.connect(db_path)
    details = [json.loads(d) for (d,) in conn.execute("SELECT details FROM scores")]
    conn.close()
    assert all("judgments" not in d and d["scale"] == [1, 2, 3, 4, 5] for d in details)

    report = ok_json("judge-report", "judged", "--db", str(db_path), "--resamples", "200")
    (section,) = report["rubrics"]
    assert section["judges"] == ["judgefake:length", "judgefake:noisy"]
    assert section["repeats"] == 3 and section["unparsed"] == 0
    noisy = section["stability"]["judgefake:noisy"]
    # noisy adds 1 on odd repeats unless already at 5: short answers have 1-3 words
    assert noisy["unstable_share"]["value"] == 1.0
    assert section["stability"]["judgefake:length"]["unstable_share"]["value"] == 0.0
    assert noisy["least_stable"] and noisy["least_stable"][0]["spread"] == 1.0
    pair = section["inter_judge"]["pairs"][0]
    assert pair["spearman"]["value"] == pytest.approx(1.0)
    assert section["verbosity_bias"]["judgefake:length"]["value"] == pytest.approx(1.0)
    assert "humans" not in section

    code, text = invoke("judge-report", "judged", "--db", str(db_path), "--resamples", "50")
    assert code == 0, text
    assert "unstable share" in text and "least stable items" in text
    assert "inter-judge" in text

    # --confidence: every interval at that level, narrower at 80% than at 95%
    narrow = ok_json("judge-report", "judged", "--db", str(db_path), "--resamples", "200",
                     "--confidence", "0.8")  # fmt: skip
    assert narrow["confidence"] == 0.8 and report["confidence"] == 0.95
    tight_section = narrow["rubrics"][0]
    for wide, tight in (
        (pair["alpha_interval"], tight_section["inter_judge"]["pairs"][0]["alpha_interval"]),
        (noisy["alpha_interval"], tight_section["stability"]["judgefake:noisy"]["alpha_interval"]),
    ):
        assert (tight["confidence"], wide["confidence"]) == (0.8, 0.95)
        assert wide["ci_low"] <= tight["ci_low"] <= tight["ci_high"] <= wide["ci_high"]
        assert tight["ci_high"] - tight["ci_low"] < wide["ci_high"] - wide["ci_low"]
    code, text = invoke("judge-report", "judged", "--db", str(db_path), "--confidence", "1.5")
    assert code == 2 and "--confidence must be between 0 and 1" in text, text


@pytest.mark.usefixtures("judge_fake_registered")
def test_rescore_replaces_judgments_and_delete_removes_them(
    answers_file: Path, db_path: Path
) -> None:
    _run(answers_file, db_path, "plain", "short")
    code, out = invoke("judge-report", "plain", "--db", str(db_path))
    assert code == 2 and "no judgments" in out
    for repeats in ("3", "2"):
        code, out = invoke(
            "score",
            "plain",
            "--scorers",
            "judge:helpfulness",
            "--judge",
            "judgefake:noisy",
            "--judge-repeats",
            repeats,
            "--db",
            str(db_path),
            "--json",
        )
        assert code == 0, out
        assert len(_judgments(db_path)) == 12 * int(repeats)
    assert {r["repeat"] for r in _judgments(db_path)} == {0, 1}
    code, out = invoke("runs", "delete", "plain", "--yes", "--db", str(db_path))
    assert code == 0, out
    assert _judgments(db_path) == []


@pytest.mark.usefixtures("judge_fake_registered")
def test_judge_options_are_checked(answers_file: Path, db_path: Path) -> None:
    code, out = invoke(
        "run", str(answers_file), "--model", "replay:short", "--judge", "judgefake",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and "only apply to scorers that ask a judge" in out
    code, out = invoke(
        "run", str(answers_file), "--model", "replay:short", "--judge", "judgefake",
        "--scorers", "selfcheck", "--samples", "3", "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and "selfcheck.method=prompt" in out, out  # bertscore asks no judge
    code, out = invoke(
        "run", str(answers_file), "--model", "replay:short", "--scorers", "judge:nope",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and "no rubric named 'nope'" in out
    code, out = invoke(
        "run", str(answers_file), "--model", "replay:short", "--scorers", "exact_match:x",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and "takes no argument" in out
    # correctness needs a reference: checked before anything runs
    bare = write_jsonl(answers_file.with_name("bare.jsonl"), [{"prompt": "Hi?", "short": "a"}])
    code, out = invoke(
        "run", str(bare), "--model", "replay:short", "--scorers", "judge:correctness",
        "--judge", "judgefake", "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and "reference" in out
    assert not JudgeFake.calls


def test_an_unreachable_judge_stops_the_run_before_anything_is_stored(
    answers_file: Path, db_path: Path
) -> None:
    code, out = invoke(
        "run", str(answers_file), "--model", "replay:short", "--reference-field", "answer",
        "--scorers", "judge:correctness", "--judge", "openai:gpt-x@http://127.0.0.1:9/v1",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and "cannot reach http://127.0.0.1:9/v1: ConnectionRefusedError" in out, out
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    conn.close()


@pytest.mark.usefixtures("judge_fake_registered")
def test_pairwise_swaps_positions(answers_file: Path, db_path: Path) -> None:
    _run(answers_file, db_path, "short", "short")
    _run(answers_file, db_path, "long", "long")
    out = ok_json(
        "judge-pairwise", "short", "long", "--judge", "judgefake:longer",
        "--rubric", "helpfulness", "--db", str(db_path), "--resamples", "100",
    )  # fmt: skip
    assert out["pairs"] == 12 and out["only_a"] == out["only_b"] == 0
    (fair,) = out["judges"]
    assert fair["judge"] == "judgefake:longer" and fair["items"] == 12
    assert fair["position_consistency"]["value"] == 1.0
    assert fair["win_rate_b"]["value"] == 1.0 and fair["win_rate_a"]["value"] == 0.0
    assert fair["first_position_rate"]["value"] == pytest.approx(0.5)
    out = ok_json(
        "judge-pairwise", "short", "long", "--judge", "judgefake:first",
        "--rubric", "helpfulness", "--db", str(db_path), "--repeats", "2",
    )  # fmt: skip
    (biased,) = out["judges"]
    assert biased["position_consistency"]["value"] == 0.0
    assert biased["first_position_rate"]["value"] == 1.0
    assert biased["win_rate_a"]["value"] == 0.0 and biased["win_rate_b"]["value"] == 0.0
    rows = _judgments(db_path, "mode = 'pairwise'")
    assert {r["position_order"] for r in rows} == {"AB", "BA"}
    assert len(rows) == 12 * 2 + 12 * 2 * 2  # both judges kept, each in both orders
    report = ok_json("judge-report", "long", "--db", str(db_path), "--resamples", "50")
    assert [p["judge"] for p in report["pairwise"]] == ["judgefake:first", "judgefake:longer"]
    assert report["pairwise"][1]["position_consistency"]["value"] == 1.0
    code, text = invoke("judge-report", "short", "--db", str(db_path), "--resamples", "50")
    assert code == 0 and "first-position rate" in text
    code, out = invoke("judge-pairwise", "short", "--db", str(db_path), "--judge", "judgefake")
    assert code == 2 and "--sample-b" in out


@pytest.mark.usefixtures("judge_fake_registered", "fake_registered")
def test_pairwise_between_two_samples_of_one_run(qa_file: Path, db_path: Path) -> None:
    ok_json(
        "run", str(qa_file), "--model", "fake", "--samples", "2", "--db", str(db_path),
        "--name", "sampled", "--no-progress",
    )  # fmt: skip
    out = ok_json(
        "judge-pairwise", "sampled", "--sample-a", "0", "--sample-b", "1",
        "--judge", "judgefake:longer", "--db", str(db_path), "--resamples", "50",
    )  # fmt: skip
    assert out["versus"] == "sample:1" and out["pairs"] == 10
    (section,) = out["judges"]
    # the fake model gives both samples the same text: every comparison is a tie
    assert section["tie_or_inconsistent_rate"]["value"] == 1.0
    assert section["position_consistency"]["value"] == 1.0
    rows = _judgments(db_path, "mode = 'pairwise'")
    assert {(r["sample"], r["versus"]) for r in rows} == {(0, "sample:1")}
    # another comparison against sample 1 keeps the first one, and reads only its own
    ok_json(
        "run", str(qa_file), "--model", "fake", "--samples", "3", "--db", str(db_path),
        "--name", "three", "--no-progress",
    )  # fmt: skip
    for a in ("0", "2"):
        out = ok_json(
            "judge-pairwise", "three", "--sample-a", a, "--sample-b", "1",
            "--judge", "judgefake:longer", "--db", str(db_path), "--resamples", "20",
        )  # fmt: skip
        assert out["judges"][0]["items"] == 10
    rows = _judgments(db_path, "mode = 'pairwise' AND versus = 'sample:1'")
    assert {r["sample"] for r in rows} == {0, 2}  # both comparisons kept
    report = ok_json("judge-report", "three", "--db", str(db_path), "--resamples", "20")
    assert sorted(p["sample_a"] for p in report["pairwise"]) == [0, 2]
    assert all(p["items"] == 10 for p in report["pairwise"])
    # two runs are compared sample for sample
    code, text = invoke("judge-pairwise", "sampled", "three", "--sample-a", "1",
                        "--judge", "judgefake:longer", "--db", str(db_path))  # fmt: skip
    assert code == 2 and "--sample-b 1" in text, text


@pytest.mark.usefixtures("judge_fake_registered")
def test_report_adds_human_agreement_when_labels_exist(answers_file: Path, db_path: Path) -> None:
    summary = _run(
        answers_file, db_path, "labelled", "short",
        "--scorers", "judge:helpfulness", "--judge", "judgefake:length",
    )  # fmt: skip
    conn = sqlite3.connect(db_path)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'labels'").fetchone() is None:
        conn.close()
        pytest.skip("no labels table in this schema (the human-review migration is absent)")
    for i in range(12):
        words = 1 + i % 3
        for annotator, value in (("ann1", words), ("ann2", words + (i % 4 == 0))):
            conn.execute(
                "INSERT INTO labels (run_id, item_id, annotator, label_name, value, created_at) "
                "VALUES (?, ?, ?, 'helpfulness', ?, 'now')",
                [summary["run_id"], f"q{i}", annotator, float(value)],
            )
    conn.commit()
    conn.close()
    report = ok_json("judge-report", "labelled", "--db", str(db_path), "--resamples", "100")
    humans = report["rubrics"][0]["humans"]
    assert humans["annotators"] == ["ann1", "ann2"] and humans["items"] == 12
    vs = {(e["judge"], e["human"]): e for e in humans["judge_vs_human"]}
    assert vs[("judgefake:length", "ann1")]["cohen_kappa"]["value"] == pytest.approx(1.0)
    assert vs[("judgefake:length", "ann2")]["spearman"]["value"] < 1.0
    assert 0 < humans["human_human"]["pairs"][0]["cohen_kappa"]["value"] < 1
    code, text = invoke("judge-report", "labelled", "--db", str(db_path), "--resamples", "50")
    assert code == 0 and "judge vs human" in text and "human-human" in text


def test_end_to_end_through_the_loopback_server(tmp_path: Path, db_path: Path) -> None:
    """Model and judge are real OpenAI-compatible calls to the mock server ('answer' mode)."""
    rows = []
    for i in range(6):
        reply = json.dumps({"reasoning": f"case {i}", "score": 1 + i % 5})
        if i == 5:
            reply = "no verdict here"
        # the model answers with the inner ANSWER line; the judge sees it in the response
        rows.append({"id": f"m{i}", "question": f"Say it.\nANSWER: ANSWER: {reply}"})
    data = write_jsonl(tmp_path / "mock.jsonl", rows)
    with running_mock_server(MockConfig(mode="answer")) as server:
        summary = ok_json(
            "run", str(data), "--model", "openai:mock-model", "--base-url", server.base_url,
            "--scorers", "judge:helpfulness", "--judge", f"openai:judge-model@{server.base_url}",
            "--db", str(db_path), "--no-progress", "--name", "mocked",
        )  # fmt: skip
        stats = server.stats
    metric = next(m for m in summary["metrics"] if m["scorer"] == "judge:helpfulness")
    assert metric["n"] == 5 and metric["details"]["unscored"] == 1
    assert metric["value"] == pytest.approx((1 + 2 + 3 + 4 + 5) / 5)
    assert stats.successes == 12  # six answers, six verdicts, nothing twice
    judged = {r["item_id"]: r for r in _judgments(db_path)}
    assert judged["m5"]["parsed_ok"] == 0 and judged["m5"]["raw"] == "no verdict here"
    assert judged["m2"]["score"] == 3.0 and judged["m2"]["reasoning"] == "case 2"
    report = ok_json("judge-report", "mocked", "--db", str(db_path), "--resamples", "50")
    assert report["rubrics"][0]["unparsed"] == 1


@pytest.mark.slow
@pytest.mark.usefixtures("fake_registered")
def test_embedded_local_judge_on_two_items(qa_file: Path, db_path: Path) -> None:
    pytest.importorskip("xllamacpp")
    summary = ok_json(
        "run", str(qa_file), "--model", "fake", "--limit", "2",
        "--scorers", "judge:correctness", "--judge", "local",
        "--scorer-option", "judge:correctness.max_tokens=96",
        "--scorer-option", "judge:correctness.reasoning_chars=150",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert summary["status"] == "completed"
    rows = _judgments(db_path)
    assert len(rows) == 2 and all(r["judge"] == "local" for r in rows)
    for row in rows:
        assert row["raw"]  # the judge answered; parsed or not, its text is kept
        assert (row["score"] is not None) == bool(row["parsed_ok"])
    metric = next(m for m in summary["metrics"] if m["scorer"] == "judge:correctness")
    assert metric["n"] + metric["details"]["unscored"] == 2
