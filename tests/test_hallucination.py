"""Hallucination scorers: selfcheck (bertscore, ngram, prompt), faithfulness, labels, rates."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.errors import ConfigError, HarnessError
from harness.item import Item
from harness.scorers.base import Example, ScoreRecord
from harness.scorers.hallucination.aggregate import RATE, hallucination_rate, label_for
from harness.scorers.hallucination.faithfulness import Faithfulness
from harness.scorers.hallucination.judging import parse_claims, parse_yes_no
from harness.scorers.hallucination.ngram import NgramModel, ngram_scores
from harness.scorers.hallucination.selfcheck import SelfCheck
from harness.scorers.hallucination.sentences import sample_sentences, sentences, word_tokens
from harness.stats import wilson_interval
from tests.conftest import write_jsonl
from tests.hallucination_fakes import HalluJudge, SampledFake, fenced

runner = CliRunner()

MAIN = "Paris is the capital of France. The tower was designed by Leonardo."
GOOD = "Paris is the capital of France. Gustave Eiffel designed the tower."
OTHER = "Bananas are yellow fruits rich in potassium. Monkeys enjoy eating them daily."


@pytest.fixture
def hallu_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(
        registry.BUILTIN_ADAPTERS, "hallujudge", "tests.hallucination_fakes:HalluJudge"
    )
    monkeypatch.setitem(
        registry.BUILTIN_ADAPTERS, "sampledfake", "tests.hallucination_fakes:SampledFake"
    )
    HalluJudge.calls.clear()
    SampledFake.texts.clear()
    yield
    SampledFake.texts.clear()


@pytest.fixture(scope="module")
def bertscore_selfcheck() -> Iterator[SelfCheck]:
    scorer = SelfCheck(method="bertscore", samples=2)
    yield scorer


def example(response: str, *samples: str, item_id: str = "a", context: str | None = None,
            references: tuple[str, ...] = ()) -> Example:  # fmt: skip
    item = Item(item_id, "Tell me about Paris.", references, context)
    return Example(item, 0, response, (response, *samples))


# -- sentences and parsing --------------------------------------------------------------


def test_sentences_and_sample_sentences_need_no_downloaded_data() -> None:
    assert sentences("Dr. Smith lives in Paris. He was born in 1950!\n1. yes") == [
        "Dr. Smith lives in Paris.",
        "He was born in 1950! 1. yes",  # a last fragment joins the sentence before it
    ]
    # fragments under 4 tokens (list markers, "Sure!") join the sentence after them, in a
    # response and in a sample alike, so a response matches copies of itself
    assert sentences("1. Paris is the capital.\n2. Eiffel designed it.") == [
        "1. Paris is the capital.",
        "2. Eiffel designed it.",
    ]
    assert sample_sentences("Sure! The tower is 330 m tall.") == ["Sure! The tower is 330 m tall."]
    assert sentences("Sure!") == sample_sentences("Sure!") == ["Sure!"]
    assert sentences("  ") == [] and sample_sentences("") == [""]
    # unspaced scripts: each kana or ideograph counts, so short CJK sentences stay apart
    assert sentences("北京是中国的首都。月球是奶酪做的。") == [
        "北京是中国的首都。",
        "月球是奶酪做的。",
    ]
    assert sentences("好的！北京是中国的首都。") == ["好的！ 北京是中国的首都。"]
    # a word with an apostrophe or hyphen is one token, as in word_tokens
    assert sentences("Don't. The box is heavy.") == ["Don't. The box is heavy."]
    assert sentences("Well-known. Paris is big.") == ["Well-known. Paris is big."]
    assert word_tokens("It's 3.5 km, isn't it?") == ["it's", "3.5", "km", ",", "isn't", "it", "?"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"answer": "Yes"}', True),
        ('{"reasoning": "the context says so", "verdict": "no"}', False),
        ("Yes, the context states it.", True),
        ("**No**. It does not.", False),
        ("The context is about France. Answer: yes", True),
        ('{"supported": false}', False),
        ("Yes. There is no mention of a second tower.", True),
        ("No, no one would say so.", False),
        ("No. The claim is not supported; the context supports only X.", False),
        ("Yes, the sentence is fully supported.", True),
        ("Yes, no doubt.", True),
        ("No.\nThe context never mentions it.", False),
        ("No, it is only partially supported.", False),
        ("No, it is neither supported nor contradicted by the context.", False),
        ("No, not well supported.", False),
        ("No\n\nOne detail is wrong: the year.", False),
        ("Verdict: No\n- Mentioned in context: yes\n- Dates match: no", False),
        ("No. While yes, Paris is mentioned, the date is wrong.", False),
        ("No. The sentence says 'yes', but the context disagrees.", False),
        ('{"verdict": "no"} {"verdict": "no", "reasoning": "again"}', False),
    ],
)
def test_yes_no_replies_are_read(text: str, value: bool) -> None:
    assert parse_yes_no(text).value is value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Perhaps.",
        '{"verdict": "maybe"}',
        "I think it is right",
        "Is the sentence supported by the context above? Answer Yes or No.",  # an echo
        "Yes or No.",
        "yes/no",
        "Yes, but no.",
        '{"verdict": "yes"} then {"verdict": "no"}',
        "Yes? No? Hard to tell.",
        "yes\nno",
        "Yes; no.",
        "No, wait, yes.",
        "No-one can tell.",
        "Yes, the sentence is not supported.",
        "Yes, it isn't supported by the context.",
        "Yes\n\nNo",
        "No hallucination: the sentence is supported by the context.",
        "No issues here, the sentence is supported.",
    ],
)
def test_unreadable_yes_no_replies_give_none(text: str) -> None:
    verdict = parse_yes_no(text)
    assert verdict.value is None and verdict.error


def test_claims_are_read_from_json_or_a_bare_list() -> None:
    assert parse_claims('{"claims": ["A is B.", " ", "C is D."]}') == (["A is B.", "C is D."], None)
    assert parse_claims('```json\n["A is B."]\n```') == (["A is B."], None)
    assert parse_claims('{"claims": [{"claim": "A is B."}]}') == (["A is B."], None)
    assert parse_claims('{"claims": []}') == ([], None)
    for bad in ("no list here", '{"claims": [1, 2]}', '{"claims": "A is B."}'):
        claims, error = parse_claims(bad)
        assert claims is None and error


# -- labels and the run rate ------------------------------------------------------------


def test_labels_follow_the_direction_of_the_metric() -> None:
    assert label_for(0.5, 0.5, higher_is_worse=True) == "hallucination"
    assert label_for(0.49, 0.5, higher_is_worse=True) == "ok"
    assert label_for(0.99, 1.0, higher_is_worse=False) == "hallucination"
    assert label_for(1.0, 1.0, higher_is_worse=False) == "ok"
    assert label_for(None, 0.5, higher_is_worse=True) is None


def test_hallucination_rate_has_a_wilson_interval_and_counts_unscored() -> None:
    records = [
        ScoreRecord(
            f"i{k}", 0, "selfcheck", 0.9 if k < 3 else 0.1, "hallucination" if k < 3 else "ok"
        )
        for k in range(10)
    ]
    records.append(ScoreRecord("i10", 0, "selfcheck", None))
    records.append(ScoreRecord("i0", 0, "other", 1.0, "hallucination"))
    rate = hallucination_rate(records, "selfcheck", 0.5, "selfcheck >= 0.5")
    low, high = wilson_interval(3, 10)
    assert rate.metric == RATE and rate.value == pytest.approx(0.3) and rate.n == 10
    assert (rate.ci_low, rate.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert rate.details["unscored"] == 1 and rate.details["hallucinated_responses"] == 3


def test_an_item_with_several_responses_counts_once() -> None:
    records = [
        ScoreRecord("a", 0, "faithfulness", 0.5, "hallucination"),
        ScoreRecord("a", 1, "faithfulness", 1.0, "ok"),
        ScoreRecord("b", 0, "faithfulness", 1.0, "ok"),
    ]
    rate = hallucination_rate(records, "faithfulness", 1.0, "faithfulness < 1")
    assert rate.value == pytest.approx(0.25) and rate.n == 2


# -- selfcheck: n-gram -------------------------------------------------------------------


def test_unigram_model_matches_hand_counts() -> None:
    # tokens: cats purr . | cats purr . | dogs bark .  -> 9 tokens
    result = ngram_scores(["Cats purr."], "Cats purr.", ["Cats purr.", "Dogs bark."], 1, 0.0)
    expected = [-math.log(2 / 9), -math.log(2 / 9), -math.log(3 / 9)]
    assert result.avg == [pytest.approx(sum(expected) / 3)]
    assert result.max == [pytest.approx(-math.log(2 / 9))]
    assert result.passage_avg == pytest.approx(sum(expected) / 3)


def test_bigram_model_with_add_k_smoothing() -> None:
    model = NgramModel(n=2, k=1.0)
    model.add("Cats purr a lot. Cats sleep a lot.")
    # P(purr | cats) = (1 + 1) / (2 + 1 * (|{cats, purr, sleep, a, lot, .}| + 1))
    assert model.logprob(("cats", "purr")) == pytest.approx(math.log(2 / 9))
    assert model.logprob(("<s>", "cats")) == pytest.approx(math.log(3 / 9))
    assert model.sentence("Cats purr a lot.")[1] == pytest.approx(-math.log(2 / 9))


def test_ngram_model_counts_the_sentences_it_scores() -> None:
    """A fragment joined to its sentence ("1. Paris ...") brings its n-grams along: a
    response scored against copies of itself sees only n-grams the model has counted."""
    listed = "1. Paris is the capital of France.\n2. Gustave Eiffel designed the tower."
    result = ngram_scores(sentences(listed), listed, [listed, listed], 2, 0.0)
    assert all(math.isfinite(v) for v in result.max + result.avg), result


def test_selfcheck_ngram_scores_rare_sentences_higher() -> None:
    scorer = SelfCheck(method="ngram", samples=2, threshold=2.5)
    (record,) = scorer.score([example(MAIN, GOOD, GOOD)])
    assert record.details is not None
    first, second = record.details["sentences"]
    assert second["score"] > first["score"]
    assert record.value == pytest.approx((first["score"] + second["score"]) / 2)
    assert record.details["max_neg_logprob"] == [first["score"], second["score"]]
    assert scorer.settings()["ngram_score"] == "max"


def test_selfcheck_ngram_has_no_default_threshold() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        SelfCheck(method="ngram")


def test_selfcheck_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="method"):
        SelfCheck(method="vibes")
    with pytest.raises(ConfigError, match="samples"):
        SelfCheck(method="ngram", samples=0, threshold=1)
    with pytest.raises(ConfigError, match="NLI model"):
        SelfCheck(method="nli")


def test_selfcheck_declares_its_needs() -> None:
    scorer = SelfCheck(method="ngram", samples=3, threshold=3)
    assert scorer.min_samples == 4 and scorer.per_item
    assert {"selfcheck", RATE} <= scorer.lower_is_better


def test_too_few_samples_leave_the_item_unscored_saying_what_is_needed() -> None:
    scorer = SelfCheck(method="ngram", samples=3, threshold=3)
    (record,) = scorer.score([example(MAIN, GOOD)])
    assert record.value is None and record.label is None
    assert record.details is not None and "--samples 4" in record.details["error"]


def test_empty_and_failed_samples_are_left_out_with_their_numbers() -> None:
    scorer = SelfCheck(method="ngram", samples=2, threshold=3)
    item = Item("a", "Tell me about Paris.")
    # samples 0..4 were drawn; 2 failed (left out of `samples`), 1 came back empty
    ok = Example(item, 0, MAIN, (MAIN, " ", GOOD, OTHER), (0, 1, 3, 4))
    (record,) = scorer.score([ok])
    assert record.value is not None and record.details is not None
    assert record.details["sample_numbers"] == [3, 4]
    short = Example(item, 0, MAIN, (MAIN, "", GOOD), (0, 1, 2))
    (record,) = scorer.score([short])
    assert record.value is None and record.details is not None
    assert "has 1" in record.details["error"] and "empty: sample 1" in record.details["error"]


def test_a_failed_main_response_is_never_replaced_by_a_sample() -> None:
    from harness.adapters.base import Response
    from harness.pipeline import examples_for
    from harness.store.db import ItemResult

    scorer = SelfCheck(method="ngram", samples=1, threshold=3)
    item = Item("a", "Tell me about Paris.")
    failed = ItemResult(item, (), [Response(text=None, error="timeout"), Response(text=GOOD)])
    assert examples_for(failed, scorer) == []
    answered = ItemResult(item, (), [Response(text=MAIN), Response(text=None, error="x"),
                                     Response(text=GOOD)])  # fmt: skip
    (one,) = examples_for(answered, scorer)
    assert (one.sample, one.samples, one.sample_numbers) == (0, (MAIN, GOOD), (0, 2))


def test_a_non_finite_value_is_stored_unscored() -> None:
    from harness.adapters.base import Response
    from harness.pipeline import score_results
    from harness.store.db import ItemResult

    class Broken(SelfCheck):
        def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
            return [ScoreRecord(e.item.id, e.sample, "selfcheck", float("nan"), "ok")
                    for e in batch]  # fmt: skip

    result = ItemResult(Item("a", "q"), (), [Response(text=MAIN), Response(text=GOOD)])
    score_results([result], [Broken(method="ngram", samples=1, threshold=3)])
    ((_, _, record),) = result.scores
    assert record.value is None and record.label is None
    assert record.details is not None and "nan" in record.details["error"]


# -- selfcheck: BERTScore ----------------------------------------------------------------


def test_selfcheck_bertscore_is_one_minus_the_mean_of_best_sentence_f1(
    bertscore_selfcheck: SelfCheck,
) -> None:
    from harness.metrics._bertscore import BertScoreModel

    record = bertscore_selfcheck.score([example(MAIN, GOOD, OTHER)])[0]
    assert record.details is not None
    model: BertScoreModel = bertscore_selfcheck._bertscore
    for row, sentence in zip(record.details["sentences"], sentences(MAIN), strict=True):
        f1 = [model.score([sentence], [sample_sentences(s)]).f1[0] for s in (GOOD, OTHER)]
        assert row["per_sample"] == [pytest.approx(1 - v, abs=1e-5) for v in f1]
        assert row["score"] == pytest.approx(1 - sum(f1) / 2, abs=1e-5)
    first, second = record.details["sentences"]
    assert second["score"] > first["score"]  # Leonardo did not design the tower


def test_selfcheck_bertscore_is_the_same_in_a_batch_and_alone(
    bertscore_selfcheck: SelfCheck,
) -> None:
    examples = [
        example(MAIN, GOOD, OTHER, item_id="a"),
        example(OTHER, OTHER, GOOD, item_id="b"),
        example(GOOD, GOOD, GOOD, item_id="c"),
    ]
    together = bertscore_selfcheck.score(examples)
    alone = [bertscore_selfcheck.score([e])[0] for e in examples]
    assert [r.item_id for r in together] == ["a", "b", "c"]
    for a, b in zip(together, alone, strict=True):
        assert a.value == pytest.approx(b.value, abs=1e-5)
    assert together[2].value == pytest.approx(0.0, abs=1e-5)  # identical samples
    assert together[2].label == "ok"
    for listed in ("1. Paris is the capital of France.\n2. Gustave Eiffel designed the tower.",
                   "Sure! Paris is the capital of France."):  # fmt: skip
        copies = bertscore_selfcheck.score([example(listed, listed, listed)])[0]
        assert copies.value == pytest.approx(0.0, abs=1e-5) and copies.label == "ok", copies
    # 1 - F1 of a sentence with itself came out at -4.6e-08 for this one before F1 was capped
    summary = (
        "Paul merson has restarted his row with andros townsend after the tottenham midfielder "
        "was brought on with only seven minutes remaining in his team 's 0-0 draw with burnley "
        "on sunday . Townsend was brought on in the 83rd minute for tottenham as they drew 0-0 "
        "against burnley . Townsend hit back at merson on twitter after scoring for england "
        "against italy ."
    )
    (same,) = bertscore_selfcheck.score([example(summary, summary, summary)])
    assert same.value == 0.0


# -- selfcheck: prompt -------------------------------------------------------------------


@pytest.mark.usefixtures("hallu_registered")
@pytest.mark.parametrize("mode", ["json", "prose"])
def test_selfcheck_prompt_asks_per_sentence_and_sample(mode: str) -> None:
    scorer = SelfCheck(method="prompt", samples=3, judges=[f"hallujudge:{mode}"], repeats=2)
    reordered = " ".join(reversed(sentences(GOOD)))  # same facts, a different prompt
    try:
        (record,) = scorer.score([example(MAIN, GOOD, reordered, OTHER)])
    finally:
        scorer.close()
    assert len(HalluJudge.calls) == 2 * 3 * 2  # sentences x samples x repeats
    asked = HalluJudge.calls[0][1].messages[-1]["content"]
    assert "Is the sentence supported by the context above? Answer Yes or No." in asked
    assert (HalluJudge.calls[0][1].response_format is not None) == (mode == "json")
    assert record.details is not None
    first, second = record.details["sentences"]
    assert first["per_sample"] == [0.0, 0.0, 1.0]  # not in the bananas sample
    assert second["per_sample"] == [1.0, 1.0, 1.0]
    assert record.value == pytest.approx((1 / 3 + 1) / 2)
    assert record.label == "hallucination" and record.details["unreadable"] == []
    assert "prompts" in scorer.settings() and scorer.settings()["judges"] == f"hallujudge:{mode}"


@pytest.mark.usefixtures("hallu_registered")
def test_selfcheck_prompt_unreadable_verdicts_are_unscored_with_raw_text() -> None:
    scorer = SelfCheck(method="prompt", samples=2, judges="hallujudge:garbage")
    try:
        (record,) = scorer.score([example(MAIN, GOOD, GOOD)])
    finally:
        scorer.close()
    assert record.value is None and record.label is None
    assert record.details is not None
    assert [s["score"] for s in record.details["sentences"]] == [None, None]
    unreadable = record.details["unreadable"]
    assert len(unreadable) == 4 and unreadable[0]["raw"] == "Hmm, hard to say."


# -- faithfulness ------------------------------------------------------------------------

CONTEXT = "Paris is the capital of France. Gustave Eiffel built the tower in 1889."


@pytest.mark.usefixtures("hallu_registered")
def test_faithfulness_is_supported_claims_over_claims() -> None:
    scorer = Faithfulness(judges="hallujudge:json")
    try:
        records = scorer.score(
            [
                example(MAIN, context=CONTEXT, item_id="a"),
                example("Paris is the capital of France.", context=CONTEXT, item_id="b"),
            ]
        )
    finally:
        scorer.close()
    first, second = records
    assert first.value == pytest.approx(0.5) and first.label == "hallucination"
    assert second.value == 1.0 and second.label == "ok"
    assert first.details is not None
    (one,) = first.details["passes"]
    assert [c["supported"] for c in one["claims"]] == [True, False]
    assert one["claims"][1]["claim"] == "The tower was designed by Leonardo."
    assert first.details["source"] == "context"
    assert scorer.requires == {"context"}


@pytest.mark.usefixtures("hallu_registered")
def test_faithfulness_checks_a_repeated_claim_once() -> None:
    scorer = Faithfulness(judges="hallujudge:json")
    HalluJudge.calls.clear()
    repeated = MAIN + " Paris is  the capital of FRANCE."
    try:
        (record,) = scorer.score([example(repeated, context=CONTEXT)])
    finally:
        scorer.close()
    assert record.value == pytest.approx(0.5) and record.details is not None
    (one,) = record.details["passes"]
    assert len(one["claims"]) == 2 and one["claims_repeated"] == 1
    assert sum("CLAIM" in fenced(r) for _, r in HalluJudge.calls) == 2


@pytest.mark.usefixtures("hallu_registered")
@pytest.mark.parametrize(
    ("mode", "raw"), [("garbage", "Hmm, hard to say."), ("badverdict", "maybe")]
)
def test_faithfulness_unreadable_replies_are_unscored_with_raw_text(mode: str, raw: str) -> None:
    scorer = Faithfulness(judges=f"hallujudge:{mode}", repeats=2)
    try:
        (record,) = scorer.score([example(MAIN, context=CONTEXT)])
    finally:
        scorer.close()
    assert record.value is None and record.label is None
    assert record.details is not None
    passes = record.details["passes"]
    assert len(passes) == 2 and all(p["score"] is None and p["error"] for p in passes)
    if mode == "garbage":
        assert passes[0]["raw"] == raw
    else:
        assert passes[0]["claims"][0]["raw"] == raw and passes[0]["claims"][0]["supported"] is None


@pytest.mark.usefixtures("hallu_registered")
def test_faithfulness_says_when_a_reply_was_cut_off() -> None:
    scorer = Faithfulness(judges="hallujudge:cutoff")
    try:
        (record,) = scorer.score([example(MAIN, context=CONTEXT)])
    finally:
        scorer.close()
    assert record.value is None and record.details is not None
    (one,) = record.details["passes"]
    assert one["raw"] == '{"claims": ["Paris is' and "cut off at max_tokens" in one["error"]


@pytest.mark.usefixtures("hallu_registered")
def test_faithfulness_failed_calls_are_unscored() -> None:
    scorer = Faithfulness(judges="hallujudge:fail", max_retries=0)
    try:
        (record,) = scorer.score([example(MAIN, context=CONTEXT)])
    finally:
        scorer.close()
    assert record.value is None and record.details is not None
    assert "400" in record.details["passes"][0]["error"]


@pytest.mark.usefixtures("hallu_registered")
def test_faithfulness_sources() -> None:
    with pytest.raises(ConfigError, match="source"):
        Faithfulness(source="web", judges="hallujudge")
    assert Faithfulness(source="reference", judges="hallujudge").requires == {"reference"}
    scorer = Faithfulness(source="auto", judges="hallujudge")
    assert scorer.requires == {"context|reference"}
    try:
        by_reference, neither = scorer.score(
            [
                example(
                    "Paris is the capital of France.",
                    references=("Paris is the capital of France.",),
                ),
                example("Paris is the capital of France.", item_id="b"),
            ]
        )
    finally:
        scorer.close()
    assert by_reference.value == 1.0 and by_reference.details is not None
    assert by_reference.details["source"] == "reference"
    assert neither.value is None and neither.details is not None
    assert "no context or reference" in neither.details["error"]


# -- through the CLI ---------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        if isinstance(result.exception, HarnessError):
            return 2, str(result.exception)
        raise result.exception
    return result.exit_code, result.output


def _rows(db: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute(sql)]
    conn.close()
    return rows


@pytest.fixture
def grounded_file(tmp_path: Path) -> Path:
    rows = [
        {"id": "a", "question": "Tell me about Paris.", "context": CONTEXT},
        {"id": "b", "question": "What is the capital of France?", "context": CONTEXT},
    ]
    return write_jsonl(tmp_path / "grounded.jsonl", rows)


@pytest.mark.usefixtures("hallu_registered")
def test_run_selfcheck_bertscore_labels_items_and_reports_the_rate(
    grounded_file: Path, db_path: Path
) -> None:
    SampledFake.texts.update(
        {
            "a": ["The moon is made of green cheese.", OTHER, OTHER, OTHER],
            "b": [GOOD, GOOD, GOOD, GOOD],
        }
    )
    code, out = invoke(
        "run", str(grounded_file), "--model", "sampledfake", "--samples", "4",
        "--scorers", "selfcheck", "--scorer-option", "selfcheck.samples=3",
        "--db", str(db_path), "--no-progress", "--json",
    )  # fmt: skip
    assert code == 0, out
    scores = {r["item_id"]: r for r in _rows(db_path, "SELECT * FROM scores")}
    assert set(scores) == {"a", "b"} and {r["sample"] for r in scores.values()} == {0}
    assert scores["a"]["label"] == "hallucination" and scores["b"]["label"] == "ok"
    assert scores["b"]["value"] == pytest.approx(0.0, abs=1e-5)
    details = json.loads(scores["a"]["details"])
    assert details["samples_used"] == 3 and len(details["sentences"]) == 1
    metrics = {r["metric"]: r for r in _rows(db_path, "SELECT * FROM run_metrics")}
    rate = metrics[RATE]
    assert rate["value"] == 0.5 and rate["n"] == 2
    assert (rate["ci_low"], rate["ci_high"]) == pytest.approx(wilson_interval(1, 2))
    assert "method:bertscore" in rate["signature"]
    # rescoring draws no samples: asking for more than the run has is refused up front
    name = json.loads(out)["name"]
    code, text = invoke("score", name, "--scorers", "selfcheck", "--scorer-option",
                        "selfcheck.samples=5", "--db", str(db_path))  # fmt: skip
    assert code == 2 and "--samples 6" in text and "--samples 4" in text, text
    assert {r["item_id"]: r for r in _rows(db_path, "SELECT * FROM scores")} == scores


@pytest.mark.usefixtures("hallu_registered")
def test_run_selfcheck_prompt_with_an_unreadable_judge_stores_unscored(
    grounded_file: Path, db_path: Path
) -> None:
    SampledFake.texts.update({"a": [MAIN, GOOD], "b": [GOOD, GOOD]})
    code, out = invoke(
        "run", str(grounded_file), "--model", "sampledfake", "--samples", "2",
        "--scorers", "selfcheck", "--scorer-option", "selfcheck.samples=1",
        "--scorer-option", "selfcheck.method=prompt", "--judge", "hallujudge:garbage",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    scores = _rows(db_path, "SELECT * FROM scores")
    assert len(scores) == 2 and all(r["value"] is None and r["label"] is None for r in scores)
    assert "Hmm, hard to say." in scores[0]["details"]
    metrics = {r["metric"]: r for r in _rows(db_path, "SELECT * FROM run_metrics")}
    assert metrics[RATE]["value"] is None and json.loads(metrics[RATE]["details"])["unscored"] == 2


@pytest.mark.usefixtures("hallu_registered")
def test_run_faithfulness_with_a_judge(grounded_file: Path, db_path: Path) -> None:
    SampledFake.texts.update({"a": [MAIN], "b": ["Paris is the capital of France."]})
    code, out = invoke(
        "run", str(grounded_file), "--model", "sampledfake", "--scorers", "faithfulness",
        "--judge", "hallujudge:json", "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    scores = {r["item_id"]: r for r in _rows(db_path, "SELECT * FROM scores")}
    assert scores["a"]["value"] == 0.5 and scores["a"]["label"] == "hallucination"
    assert scores["b"]["value"] == 1.0 and scores["b"]["label"] == "ok"
    details = json.loads(scores["a"]["details"])
    assert details["passes"][0]["claims"][1]["supported"] is False
    metrics = {r["metric"]: r for r in _rows(db_path, "SELECT * FROM run_metrics")}
    assert metrics["faithfulness"]["value"] == pytest.approx(0.75)
    assert metrics[RATE]["value"] == 0.5
    assert "hallujudge:json" in metrics[RATE]["signature"]


@pytest.mark.usefixtures("hallu_registered")
@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ((), "context"),
        (("--scorer-option", "faithfulness.source=reference"), "reference"),
        (("--scorer-option", "faithfulness.source=auto"), "context or reference"),
    ],
)
def test_grounded_scorer_without_context_fails_at_start(
    tmp_path: Path, db_path: Path, options: tuple[str, ...], missing: str
) -> None:
    bare = write_jsonl(tmp_path / "bare.jsonl", [{"id": "a", "question": "Hi?"}])
    code, out = invoke(
        "run", str(bare), "--model", "sampledfake", "--scorers", "faithfulness",
        "--judge", "hallujudge:json", *options, "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and f"faithfulness needs a {missing}" in out
    assert len(out.strip().splitlines()) == 1
    assert not HalluJudge.calls
    assert not db_path.exists() or not _rows(db_path, "SELECT * FROM runs")


@pytest.mark.usefixtures("hallu_registered")
def test_a_dataset_with_only_references_points_at_the_source_option(
    tmp_path: Path, db_path: Path
) -> None:
    rows = [{"id": "a", "question": "Hi?", "answer": "Hello."}]
    data = write_jsonl(tmp_path / "ref.jsonl", rows)
    code, out = invoke(
        "run", str(data), "--model", "sampledfake", "--scorers", "faithfulness",
        "--judge", "hallujudge:json", "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and len(out.strip().splitlines()) == 1
    assert "faithfulness needs a context" in out
    assert "--scorer-option faithfulness.source=auto" in out


@pytest.mark.usefixtures("hallu_registered")
def test_auto_source_names_the_row_with_neither_context_nor_reference(
    tmp_path: Path, db_path: Path
) -> None:
    rows = [
        {"id": "a", "question": "Hi?", "context": CONTEXT, "answer": ""},
        {"id": "b", "question": "Hi?", "context": "", "answer": "Paris"},
        {"id": "c", "question": "Hi?", "context": " ", "answer": ""},
    ]
    data = write_jsonl(tmp_path / "mixed.jsonl", rows)
    code, out = invoke(
        "run", str(data), "--model", "sampledfake", "--scorers", "faithfulness",
        "--scorer-option", "faithfulness.source=auto", "--judge", "hallujudge:json",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 2 and len(out.strip().splitlines()) == 1
    assert "mixed.jsonl" in out and "row 3" in out and "context, answer" in out
    assert "neither a context nor a reference" in out
    assert not HalluJudge.calls
    assert not db_path.exists() or not _rows(db_path, "SELECT * FROM runs")


@pytest.mark.usefixtures("hallu_registered")
def test_rescoring_with_auto_source_checks_the_stored_items_first(
    tmp_path: Path, db_path: Path
) -> None:
    bare = write_jsonl(tmp_path / "bare.jsonl", [{"id": "a", "question": "Hi?"}])
    code, out = invoke(
        "run", str(bare), "--model", "sampledfake", "--name", "plain",
        "--db", str(db_path), "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    code, out = invoke(
        "score", "plain", "--scorers", "faithfulness", "--judge", "hallujudge:json",
        "--scorer-option", "faithfulness.source=auto", "--db", str(db_path),
    )  # fmt: skip
    assert code == 2 and "needs a context or reference" in out and "'a'" in out
    assert not HalluJudge.calls


def test_the_scorers_are_registered() -> None:
    names = registry.available(registry.SCORER_GROUP)
    assert {"selfcheck", "faithfulness", "nli"} <= set(names)
    assert registry.load(registry.SCORER_GROUP, "selfcheck") is SelfCheck
