"""bleu, chrf and rouge: agreement with sacrebleu / rouge-score, several references, corpus
statistics, Unicode text, bad input, the evaluate modules, and a CLI run end to end."""

from __future__ import annotations

import json
import random
import sqlite3
import string
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize
from sacrebleu.metrics import BLEU, CHRF
from typer.testing import CliRunner

from harness.adapters.base import AdapterOptions
from harness.errors import ConfigError
from harness.item import Item
from harness.metrics._sacrebleu import bleu_values, chrf_values
from harness.metrics._tokenize import UnicodeTokenizer, split_sentences
from harness.scorer_setup import make_scorers
from harness.scorers.base import Example, ScoreRecord
from harness.scorers.reference import Bleu, Chrf, Rouge
from tests.conftest import write_jsonl
from tests.fakes import FakeAdapter

HYPS = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over a lazy dog.",
    "",
    "Paris is the capital of France.",
    "It rained all day, so we stayed in.",
    "Le chat est assis sur le tapis.",
    "我爱北京天安门。",
    "Die Katze schläft auf dem Sofa.",
]
REFS = [
    ["The cat is on the mat.", "There is a cat on the mat."],
    ["The quick brown fox jumped over the lazy dog."],
    ["Nothing to see here."],
    ["The capital of France is Paris.", "Paris.", "Paris is France's capital city."],
    ["We stayed inside because it rained the whole day."],
    ["Le chat est sur le tapis."],
    ["我爱北京。", "北京天安门"],
    ["Die Katze schläft auf dem Sofa."],
]


def examples(hyps: Sequence[str], refs: Sequence[Sequence[str]], sample: int = 0) -> list[Example]:
    return [
        Example(Item(id=f"i{i}", input="", references=tuple(r)), sample, h)
        for i, (h, r) in enumerate(zip(hyps, refs, strict=True))
    ]


def streams(refs: Sequence[Sequence[str]]) -> list[list[str | None]]:
    width = max(len(r) for r in refs)
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


def by_metric(records: list[ScoreRecord], metric: str) -> list[ScoreRecord]:
    return [r for r in records if r.metric == metric]


# -- agreement with sacrebleu, several references -------------------------------------


@pytest.mark.parametrize("tokenize", ["13a", "intl", "zh", "char", "none"])
def test_bleu_matches_sacrebleu_with_varying_references(tokenize: str) -> None:
    scorer = Bleu(tokenize=tokenize)
    records = scorer.score(examples(HYPS, REFS))
    for record, hyp, refs in zip(records, HYPS, REFS, strict=True):
        expected = sacrebleu.sentence_bleu(hyp, refs, tokenize=tokenize).score
        assert record.value == pytest.approx(expected, abs=1e-12)
        assert record.details is not None and record.details["nrefs"] == len(refs)
    (metric,) = scorer.aggregate(records)
    reference = BLEU(tokenize=tokenize)
    corpus = reference.corpus_score(HYPS, streams(REFS))
    assert metric.value == corpus.score
    assert metric.details["sacrebleu_signature"] == str(reference.get_signature())
    assert metric.details["counts"] == corpus.counts
    assert (
        metric.details["sys_len"] == corpus.sys_len and metric.details["ref_len"] == corpus.ref_len
    )


def test_corpus_bleu_is_from_summed_statistics_not_a_mean() -> None:
    scorer = Bleu()
    (metric,) = scorer.aggregate(scorer.score(examples(HYPS, REFS)))
    sentence_mean = np.mean(
        [sacrebleu.sentence_bleu(h, r).score for h, r in zip(HYPS, REFS, strict=True)]
    )
    assert metric.details["sentence_mean"] == pytest.approx(sentence_mean)
    assert abs(metric.value - sentence_mean) > 1  # the two really differ on this data
    assert metric.ci_low is not None and metric.ci_high is not None
    assert metric.ci_low <= metric.value <= metric.ci_high
    (again,) = scorer.aggregate(scorer.score(examples(HYPS, REFS)))
    assert (again.ci_low, again.ci_high) == (metric.ci_low, metric.ci_high)  # seeded


def test_samples_of_an_item_are_summed_into_the_corpus() -> None:
    scorer = Bleu()
    first = scorer.score(examples(HYPS, REFS, sample=0))
    second = scorer.score(examples(list(reversed(HYPS)), REFS, sample=1))
    (metric,) = scorer.aggregate(first + second)
    corpus = sacrebleu.corpus_bleu(HYPS + list(reversed(HYPS)), streams(REFS + REFS))
    assert metric.value == pytest.approx(corpus.score, abs=1e-9)
    assert metric.n == len(HYPS)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"word_order": 2},
        {"beta": 3, "eps_smoothing": True},
        {"whitespace": True, "lowercase": True},
    ],
)
def test_chrf_matches_sacrebleu_best_reference(options: dict[str, Any]) -> None:
    scorer = Chrf(**options)
    records = scorer.score(examples(HYPS, REFS))
    for record, hyp, refs in zip(records, HYPS, REFS, strict=True):
        expected = CHRF(**options).sentence_score(hyp, refs).score
        assert record.value == pytest.approx(expected, abs=1e-12)
    (metric,) = scorer.aggregate(records)
    assert metric.value == CHRF(**options).corpus_score(HYPS, streams(REFS)).score


def test_vectorised_corpus_values_match_sacrebleu_on_random_statistics() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        order = int(rng.integers(1, 6))
        total = rng.integers(0, 6, size=order)
        total = np.sort(total)[::-1]  # fewer long n-grams than short ones
        correct = np.minimum(rng.integers(0, 6, size=order), total)
        sys_len, ref_len = int(total[0]), int(rng.integers(0, 8))
        row = np.array([sys_len, ref_len, *correct, *total])
        for method, value in (
            ("exp", None),
            ("floor", None),
            ("floor", 0.3),
            ("add-k", 1),
            ("none", None),
        ):
            for effective in (False, True):
                expected = BLEU.compute_bleu(
                    list(map(int, correct)), list(map(int, total)), sys_len, ref_len,
                    smooth_method=method, smooth_value=value, effective_order=effective,
                    max_ngram_order=order,
                ).score  # fmt: skip
                got = bleu_values(
                    row[None],
                    order,
                    smooth_method=method,
                    smooth_value=value,
                    effective_order=effective,
                )
                assert got[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    for _ in range(300):
        order = int(rng.integers(1, 9))
        stats = rng.integers(0, 5, size=(order, 3))
        stats[:, 2] = np.minimum(stats[:, 2], stats[:, :2].min(axis=1))
        for beta, eps in ((2, False), (3, True), (1, False)):
            metric = CHRF(char_order=order, beta=beta, eps_smoothing=eps)
            expected = metric._compute_f_score(list(map(int, stats.ravel())))
            got = chrf_values(stats.ravel()[None], order, beta=beta, eps_smoothing=eps)
            assert got[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_corpus_value_is_vectorised_over_rows() -> None:
    scorer = Bleu()
    records = scorer.score(examples(HYPS, REFS))
    stats = np.array([r.details["stats"] for r in records if r.details])
    sums = np.stack([stats.sum(axis=0), stats[:4].sum(axis=0), stats[4:].sum(axis=0)])
    values = scorer.corpus_value("bleu", sums)
    assert values.shape == (3,)
    assert values[0] == pytest.approx(sacrebleu.corpus_bleu(HYPS, streams(REFS)).score)
    assert values[1] == pytest.approx(sacrebleu.corpus_bleu(HYPS[:4], streams(REFS[:4])).score)
    with pytest.raises(ValueError, match="no corpus metric"):
        scorer.corpus_value("rouge1", sums)


# -- signatures -----------------------------------------------------------------------


def test_signatures_carry_sacrebleu_signature_and_settings() -> None:
    bleu = Bleu()
    assert "|nrefs:var|case:mixed|eff:yes|tok:13a|smooth:exp|version:" in bleu.signature()
    assert bleu.signature().startswith("bleu|") and "ngram:4" in bleu.signature()
    assert "tok:intl" in Bleu(tokenize="intl").signature()
    assert "case:lc" in Bleu(lowercase=True).signature()
    assert "smooth:floor[0.10]" in Bleu(smooth_method="floor").signature()
    chrf = Chrf(word_order=2, beta=3)
    assert "nc:6|nw:2|space:no" in chrf.signature() and "beta:3" in chrf.signature()
    rouge = Rouge(use_stemmer=True)
    assert "stem:porter" in rouge.signature() and "tok:unicode-v1" in rouge.signature()
    assert rouge.signature() != Rouge().signature()
    assert Rouge(tokenizer="rouge_score").signature() != Rouge().signature()


def test_run_signature_reports_the_real_number_of_references() -> None:
    one = Bleu().aggregate(Bleu().score(examples(HYPS[:2], [["a b c"], ["d e f"]])))[0]
    assert one.details["sacrebleu_signature"].startswith("nrefs:1|")
    assert one.details["sacrebleu_signature"].endswith(f"version:{sacrebleu.__version__}")
    varying = Bleu().aggregate(Bleu().score(examples(HYPS, REFS)))[0]
    assert varying.details["sacrebleu_signature"].startswith("nrefs:var|")
    assert "eff:no" in varying.details["sacrebleu_signature"]  # corpus BLEU: no effective order


# -- ROUGE: Unicode, sentences, several references --------------------------------------


def _random_ascii(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation + " \t\n" * 6
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))


@pytest.mark.parametrize("stem", [False, True])
def test_unicode_tokenizer_equals_rouge_score_on_ascii(stem: bool) -> None:
    from nltk.stem import porter

    rng = random.Random(3)
    texts = [_random_ascii(rng) for _ in range(400)] + [
        "Running runners ran quickly; the flies were flying.",
        "It's 3pm -- e.g. testing_underscores and CamelCase.",
    ]
    ours = UnicodeTokenizer(use_stemmer=stem)
    stemmer = porter.PorterStemmer() if stem else None
    for text in texts:
        assert ours.tokenize(text) == rs_tokenize.tokenize(text, stemmer)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Le café était très bon", ["le", "café", "était", "très", "bon"]),
        ("Die Straße ÜBER", ["die", "straße", "über"]),
        ("我爱北京天安门", ["我", "爱", "北", "京", "天", "安", "门"]),
        ("東京タワーへ", ["東", "京", "タ", "ワ", "ー", "へ"]),
        ("Привет, мир!", ["привет", "мир"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),
        ("abc中文def 42", ["abc", "中", "文", "def", "42"]),
        ("ｆｕｌｌｗｉｄｔｈ", ["fullwidth"]),
    ],
)
def test_unicode_tokenizer_keeps_other_scripts(text: str, tokens: list[str]) -> None:
    assert UnicodeTokenizer().tokenize(text) == tokens


@pytest.mark.parametrize(
    ("prediction", "reference", "rouge1"),
    [
        ("Le café était très bon.", "Le café était bon.", 2 * 0.8 / 1.8),  # P 4/5, R 4/4
        ("Кошка спит на диване.", "Кошка спит.", 2 * 0.5 / 1.5),  # P 2/4, R 2/2
        ("我爱北京天安门。", "我爱北京。", 8 / 11),  # by character: P 4/7, R 4/4
        ("Die Katze schläft.", "Die Katze schläft.", 1.0),
    ],
)
def test_rouge_scores_non_ascii_text(prediction: str, reference: str, rouge1: float) -> None:
    records = Rouge().score(examples([prediction], [[reference]]))
    assert by_metric(records, "rouge1")[0].value == pytest.approx(rouge1)
    # rouge-score's own tokenizer (kept as tokenizer='rouge_score') garbles or drops them.
    legacy = Rouge(tokenizer="rouge_score").score(examples([prediction], [[reference]]))
    default = rouge_scorer.RougeScorer(["rouge1"]).score(reference, prediction)["rouge1"]
    assert by_metric(legacy, "rouge1")[0].value == pytest.approx(default.fmeasure)
    if rouge1 < 1:
        assert default.fmeasure != pytest.approx(rouge1)


def test_rouge_equals_rouge_score_on_ascii_and_takes_the_best_reference() -> None:
    hyps, refs = HYPS[:5], REFS[:5]
    types = ["rouge1", "rouge2", "rougeL"]
    records = Rouge(rouge_types=types, use_stemmer=True).score(examples(hyps, refs))
    official = rouge_scorer.RougeScorer(types, use_stemmer=True)
    for i, (hyp, ref) in enumerate(zip(hyps, refs, strict=True)):
        expected = official.score_multi(ref, hyp)
        for rouge_type in types:
            (record,) = [r for r in by_metric(records, rouge_type) if r.item_id == f"i{i}"]
            assert record.value == pytest.approx(expected[rouge_type].fmeasure)
            assert record.details is not None
            assert record.details["precision"] == pytest.approx(expected[rouge_type].precision)
            assert record.details["recall"] == pytest.approx(expected[rouge_type].recall)
            if len(ref) > 1:
                best = max(
                    range(len(ref)), key=lambda k: official.score(ref[k], hyp)[rouge_type].fmeasure
                )
                assert record.details["best_reference"] == best


def test_rougelsum_splits_sentences_without_nltk_data() -> None:
    prediction = "The cat sat down. Then it slept all day."
    reference = "Then it slept. The cat sat down first."
    split = by_metric(
        Rouge(rouge_types=["rougeLsum"]).score(examples([prediction], [[reference]])), "rougeLsum"
    )
    whole = by_metric(
        Rouge(rouge_types=["rougeLsum"], split_sentences=False).score(
            examples([prediction], [[reference]])
        ),
        "rougeLsum",
    )
    expected = rouge_scorer.RougeScorer(["rougeLsum"]).score(
        "Then it slept.\nThe cat sat down first.", "The cat sat down.\nThen it slept all day."
    )["rougeLsum"]
    assert split[0].value == pytest.approx(expected.fmeasure)
    assert whole[0].value == pytest.approx(
        rouge_scorer.RougeScorer(["rougeL"]).score(reference, prediction)["rougeL"].fmeasure
    )
    assert split[0].value != whole[0].value


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three? four", ["One.", "Two!", "Three? four"]),
        (
            "Mr. Smith met Dr. J. K. Rowling. She smiled.",
            ["Mr. Smith met Dr. J. K. Rowling.", "She smiled."],
        ),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("line one\nline two\n\n", ["line one", "line two"]),
        ("我爱北京。你好！好的", ["我爱北京。", "你好！", "好的"]),
        ("e.g. this. And 3.5 percent. 42 more.", ["e.g. this.", "And 3.5 percent.", "42 more."]),
        ("", []),
    ],
)
def test_sentence_splitter(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


# -- empty input ----------------------------------------------------------------------


@pytest.mark.parametrize("scorer_class", [Bleu, Chrf, Rouge])
def test_empty_response_or_reference_is_scored_zero(scorer_class: type) -> None:
    scorer = scorer_class()
    batch = [
        Example(Item(id="empty-response", input="", references=("a reference",)), 0, ""),
        Example(Item(id="empty-reference", input="", references=("",)), 0, "a response"),
        Example(Item(id="no-reference", input="", references=()), 0, "a response"),
        Example(Item(id="both-empty", input="", references=("",)), 0, ""),
    ]
    records = scorer.score(batch)
    assert {r.item_id for r in records} == {e.item.id for e in batch}
    assert all(r.value == 0.0 for r in records)
    for metric in scorer.aggregate(records):
        assert metric.value == 0.0


# -- bad options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("bleu", {"tokenize": "moses"}, "unknown tokenize 'moses'"),
        ("bleu", {"smooth_method": "lots"}, "unknown smooth_method"),
        ("bleu", {"max_ngram_order": 0}, "max_ngram_order"),
        ("bleu", {"tokenise": "intl"}, "tokenise"),
        ("chrf", {"char_order": 0}, "char_order"),
        ("rouge", {"rouge_types": ["rouge0"]}, "rouge_types"),
        ("rouge", {"tokenizer": "nltk"}, "unknown tokenizer 'nltk'"),
    ],
)
def test_bad_options_are_one_clear_error(name: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_scorers([name], {name: options})


def test_rouge_types_from_the_command_line_form() -> None:
    (scorer,) = make_scorers(["rouge"], {"rouge": {"rouge_types": "rouge1,rougeL"}})
    records = scorer.score(examples(HYPS[:1], REFS[:1]))
    assert [r.metric for r in records] == ["rouge1", "rougeL"]


# -- evaluate modules -------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluate_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Offline, with every evaluate cache in a temp folder."""
    home = tmp_path_factory.mktemp("evaluate-home")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "HOME": str(home),
            "HF_HOME": str(home / "hf"),
            "HF_HUB_OFFLINE": "1",
            "HF_EVALUATE_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
        }.items():
            mp.setenv(name, value)
        import evaluate  # noqa: F401  (configured by the environment above)

        yield home


def test_evaluate_load_by_path_offline_add_batch_and_compute(evaluate_env: Path) -> None:
    import evaluate

    from harness.metrics import module_path

    bleu = evaluate.load(module_path("bleu"), cache_dir=str(evaluate_env / "cache"))
    for start in range(0, len(HYPS), 3):
        bleu.add_batch(predictions=HYPS[start : start + 3], references=REFS[start : start + 3])
    result = bleu.compute()
    assert result["bleu"] == sacrebleu.corpus_bleu(HYPS, streams(REFS)).score
    assert (
        result["bleu_signature"]
        == f"nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    )
    for hyp, ref in zip(HYPS, REFS, strict=True):
        bleu.add(prediction=hyp, reference=ref)
    assert bleu.compute()["bleu"] == result["bleu"]
    single = bleu.compute(predictions=HYPS[:2], references=[r[0] for r in REFS[:2]])
    assert single["bleu"] == sacrebleu.corpus_bleu(HYPS[:2], [[r[0] for r in REFS[:2]]]).score


def test_evaluate_modules_and_scorers_give_the_same_numbers(evaluate_env: Path) -> None:
    from harness import metrics

    chrf = metrics.load("chrf", word_order=2, cache_dir=str(evaluate_env / "cache"))
    rouge = metrics.load("rouge", cache_dir=str(evaluate_env / "cache"))
    (corpus,) = Chrf(word_order=2).aggregate(Chrf(word_order=2).score(examples(HYPS, REFS)))
    assert chrf.compute(predictions=HYPS, references=REFS)["chrf"] == corpus.value
    rouge_metrics = {m.metric: m for m in Rouge().aggregate(Rouge().score(examples(HYPS, REFS)))}
    result = rouge.compute(predictions=HYPS, references=REFS)
    for rouge_type in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert result[rouge_type] == pytest.approx(rouge_metrics[rouge_type].value)
        assert result[f"{rouge_type}_recall"] == pytest.approx(
            rouge_metrics[rouge_type].details["recall"]
        )
    per_item = rouge.compute(predictions=HYPS, references=REFS, use_aggregator=False)
    assert len(per_item["rouge1"]) == len(HYPS)


def test_evaluate_combine(evaluate_env: Path) -> None:
    import evaluate

    from harness import metrics

    combined = evaluate.combine(
        [
            metrics.load(name, cache_dir=str(evaluate_env / "cache"))
            for name in ("bleu", "chrf", "rouge")
        ]
    )
    combined.add_batch(predictions=HYPS, references=REFS)
    result = combined.compute()
    assert result["bleu"] == sacrebleu.corpus_bleu(HYPS, streams(REFS)).score
    assert result["chrf"] == sacrebleu.corpus_chrf(HYPS, streams(REFS)).score
    assert {"rouge1", "rougeLsum", "bleu_signature", "chrf_signature", "rouge_signature"} <= set(
        result
    )
    by_name = metrics.combine(["bleu", "chrf"]).compute(predictions=HYPS, references=REFS)
    assert by_name["bleu"] == result["bleu"] and by_name["chrf"] == result["chrf"]


def test_evaluate_module_rejects_unknown_options(evaluate_env: Path) -> None:
    from harness import metrics

    with pytest.raises(TypeError, match="tokenise"):
        metrics.load("bleu", tokenise="intl")
    with pytest.raises(ConfigError, match="unknown tokenize"):
        metrics.load("bleu", tokenize="moses")
    with pytest.raises(ConfigError, match="no metric module 'nosuch'"):
        metrics.module_path("nosuch")
    assert {"bleu", "chrf", "rouge"} <= set(metrics.available())


# -- through the CLI ------------------------------------------------------------------


class ScriptedFake(FakeAdapter):
    """The fake adapter answering from a script keyed by item id (class-level, for the CLI)."""

    script: ClassVar[dict[str, str]] = {}

    def __init__(self, model: str = "", options: AdapterOptions | None = None) -> None:
        super().__init__(model, options)
        self.replies.update(self.script)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A multi-reference dataset and the scripted fake registered as `--model scripted`."""
    from harness import registry

    monkeypatch.setitem(
        registry.BUILTIN_ADAPTERS, "scripted", "tests.test_reference_metrics:ScriptedFake"
    )
    rows = [
        {"id": f"q{i}", "question": f"Say something about {i}.", "answers": refs}
        for i, refs in enumerate(REFS)
    ]
    monkeypatch.setattr(ScriptedFake, "script", {f"q{i}": hyp for i, hyp in enumerate(HYPS)})
    return write_jsonl(tmp_path / "multi.jsonl", rows)


def _invoke(*args: str) -> tuple[int, str]:
    from harness.cli import app

    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        from harness.errors import HarnessError

        if isinstance(result.exception, HarnessError):
            return 2, str(result.exception)
        raise result.exception
    return result.exit_code, result.output


def test_cli_run_stores_scores_with_signatures_and_corpus_bleu(
    scripted: Path, db_path: Path
) -> None:
    code, out = _invoke(
        "run", str(scripted), "--model", "scripted", "--scorers", "bleu,chrf,rouge",
        "--scorer-option", "rouge.use_stemmer=true", "--db", str(db_path), "--json",
        "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    summary = json.loads(out)
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT scorer, metric, item_id, value, details, signature FROM scores WHERE run_id = ?",
        [summary["run_id"]],
    ).fetchall()
    assert len([r for r in rows if r[0] == "bleu"]) == len(HYPS)
    assert len([r for r in rows if r[0] == "rouge"]) == 4 * len(HYPS)
    for scorer, _metric, _item, value, details, signature in rows:
        assert value is not None
        assert signature.startswith(f"{scorer}|")
        if scorer in ("bleu", "chrf"):
            assert "|nrefs:var|" in signature and f"version:{sacrebleu.__version__}" in signature
            assert len(json.loads(details)["stats"]) == (10 if scorer == "bleu" else 18)
        else:
            assert "stem:porter" in signature and "precision" in json.loads(details)
    bleu_value = {r[2]: r[3] for r in rows if r[0] == "bleu"}
    assert bleu_value["q0"] == pytest.approx(sacrebleu.sentence_bleu(HYPS[0], REFS[0]).score)
    metrics = {(m["scorer"], m["metric"]): m for m in summary["metrics"]}
    corpus = sacrebleu.corpus_bleu(HYPS, streams(REFS))
    assert metrics["bleu", "bleu"]["value"] == pytest.approx(corpus.score, abs=1e-9)
    assert metrics["bleu", "bleu"]["ci_low"] < corpus.score < metrics["bleu", "bleu"]["ci_high"]
    assert metrics["bleu", "bleu"]["details"]["sacrebleu_signature"].startswith("nrefs:var|")
    assert metrics["chrf", "chrf"]["value"] == pytest.approx(
        sacrebleu.corpus_chrf(HYPS, streams(REFS)).score
    )
    assert {"rouge1", "rouge2", "rougeL", "rougeLsum"} <= {m for s, m in metrics if s == "rouge"}
    stored = conn.execute(
        "SELECT value, signature FROM run_metrics WHERE run_id = ? AND metric = 'bleu'",
        [summary["run_id"]],
    ).fetchone()
    assert stored[0] == pytest.approx(corpus.score, abs=1e-9) and stored[1].startswith(
        "bleu|nrefs:var|"
    )


@pytest.mark.usefixtures("fake_registered")
def test_cli_reference_scorer_without_references_fails_at_start(
    tmp_path: Path, db_path: Path
) -> None:
    data = write_jsonl(
        tmp_path / "noref.jsonl", [{"id": f"n{i}", "question": f"q {i}"} for i in range(5)]
    )
    code, out = _invoke(
        "run",
        str(data),
        "--model",
        "fake",
        "--scorers",
        "bleu",
        "--db",
        str(db_path),
        "--no-progress",
    )
    assert code == 2
    assert "reference" in out and len(out.strip().splitlines()) == 1
    if db_path.exists():
        from harness.store.db import Store

        assert Store(db_path).list_runs() == []


def test_sentence_splitting_is_linear_in_runs_of_end_marks() -> None:
    """The same splits as the plain pattern it replaced, on random punctuation-heavy text,
    and long runs of end marks without the quadratic backtracking (200,000 dots took
    minutes)."""
    import random
    import re

    from harness.metrics import _tokenize

    plain = re.compile(f"[{_tokenize._TERMINAL}]+[{_tokenize._CLOSERS}]*\\s+")
    rng = random.Random(0)
    alphabet = [".", "!", "?", '"', "'", ")", " ", " ", "A", "b", "\u2026", "Mr", "\n"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        for line in text.split("\n"):
            assert [m.span() for m in _tokenize._CANDIDATE.finditer(line)] == [
                m.span() for m in plain.finditer(line)
            ], line
    assert split_sentences("Wait" + "." * 200_000) == ["Wait" + "." * 200_000]
    assert split_sentences("!" * 100_000 + '"' * 100_000 + " Next") == [
        "!" * 100_000 + '"' * 100_000,
        "Next",
    ]


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge"])
def test_a_module_refuses_references_that_mix_strings_and_lists(name: str) -> None:
    """evaluate fixes the form from the first reference and mangles the others silently
    (BLEU 81.98 or 36.90 where sacrebleu gives 75.15)."""
    import evaluate

    from harness.metrics import module_path

    module = evaluate.load(module_path(name))
    predictions = ["a b c d e", "a b"]
    for mixed in ([["a b c d e f g"], "a b"], ["a b c d e f g", ["a b", "c"]]):
        with pytest.raises(ValueError, match="references mix strings and lists"):
            module.compute(predictions=predictions, references=mixed)
    listed = module.compute(predictions=predictions, references=[["a b c d e f g"], ["a b"]])
    plain = module.compute(predictions=predictions, references=["a b c d e f g", "a b"])
    assert listed == plain
    if name == "bleu":
        import sacrebleu

        expected = sacrebleu.corpus_bleu(predictions, [["a b c d e f g", "a b"]]).score
        assert listed["bleu"] == pytest.approx(expected)
