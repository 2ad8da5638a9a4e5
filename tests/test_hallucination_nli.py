"""The `nli` scorer and selfcheck's NLI variant, with tiny classifiers built by the tests."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import ConfigError
from harness.item import Item
from harness.scorers.base import Example
from harness.scorers.hallucination.aggregate import RATE
from harness.scorers.hallucination.nli import NLIScorer
from harness.scorers.hallucination.nli_model import NLIModel
from harness.scorers.hallucination.selfcheck import SelfCheck
from tests.conftest import write_jsonl
from tests.hallucination_fakes import build_nli_model

CONTEXT = "Paris is the capital of France. Eiffel built the tower in 1889."
RESPONSE = "Paris is the capital of France. Leonardo designed the tower."
BIAS = [2.0, 0.0, -1.0]


def softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def example(response: str = RESPONSE, context: str | None = CONTEXT, *samples: str) -> Example:
    item = Item("a", "Tell me about Paris.", ("Paris.",), context)
    return Example(item, 0, response, (response, *samples))


@pytest.mark.parametrize("kind", ["bert", "deberta"])
def test_labels_come_from_id2label(tmp_path: Path, kind: str) -> None:
    # the same logits under two label orders: the mapping must follow id2label
    p = softmax(BIAS)
    orders = {
        "cne": {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"},
        "enc": {0: "entailment", 1: "neutral", 2: "contradiction"},
    }
    for name, id2label in orders.items():
        folder = build_nli_model(tmp_path / name, kind=kind, id2label=id2label, bias=BIAS)
        (probs,) = NLIModel(str(folder)).predict([CONTEXT], ["Paris is big."])
        by_name = {label.lower(): p[i] for i, label in id2label.items()}
        assert probs.entailment == pytest.approx(by_name["entailment"], abs=1e-5)
        assert probs.contradiction == pytest.approx(by_name["contradiction"], abs=1e-5)
        assert probs.neutral == pytest.approx(by_name["neutral"], abs=1e-5)


def test_predict_matches_the_model_run_directly(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = build_nli_model(tmp_path / "m")
    nli = NLIModel(str(folder), batch_size=2)
    premises = [CONTEXT, "London is in England.", CONTEXT]
    hypotheses = ["Paris is the capital.", "It is a big city.", "Paris is the capital."]
    got = nli.predict(premises, hypotheses)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for k in range(3):
        with torch.no_grad():
            logits = model(**tokenizer(premises[k], hypotheses[k], return_tensors="pt")).logits
        expected = torch.softmax(logits, -1)[0].tolist()
        assert got[k].entailment == pytest.approx(expected[2], abs=1e-5)
        assert got[k].contradiction == pytest.approx(expected[0], abs=1e-5)


def test_generic_labels_need_the_labels_option(tmp_path: Path) -> None:
    folder = build_nli_model(
        tmp_path / "m", id2label={0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, bias=BIAS
    )
    with pytest.raises(ConfigError, match=r"LABEL_0, LABEL_1, LABEL_2.*nli.labels="):
        NLIModel(str(folder))
    nli = NLIModel(str(folder), labels="Entailment,Neutral,Contradiction")
    (probs,) = nli.predict([CONTEXT], ["Paris."])
    assert probs.entailment == pytest.approx(softmax(BIAS)[0], abs=1e-5)
    with pytest.raises(ConfigError, match="2 labels given but the model has 3"):
        NLIModel(str(folder), labels="entailment,contradiction")


def test_one_output_model_reads_as_consistency(tmp_path: Path) -> None:
    folder = build_nli_model(tmp_path / "m", id2label={0: "LABEL_0"}, bias=[0.7])
    (probs,) = NLIModel(str(folder)).predict([CONTEXT], ["Paris."])
    assert probs.entailment == pytest.approx(1 / (1 + math.exp(-0.7)), abs=1e-5)
    assert probs.contradiction is None and probs.neutral is None
    backwards = build_nli_model(tmp_path / "h", id2label={0: "hallucinated"}, bias=[0.7])
    with pytest.raises(ConfigError, match=r"one output .* labelled 'hallucinated'"):
        NLIModel(str(backwards))


def test_labels_option_cannot_contradict_named_labels(tmp_path: Path) -> None:
    id2label = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}
    folder = build_nli_model(tmp_path / "m", id2label=id2label, bias=BIAS)
    with pytest.raises(ConfigError, match="contradicts the NLI model"):
        NLIModel(str(folder), labels="entailment,neutral,contradiction")
    same = NLIModel(str(folder), labels="contradiction,neutral,entailment")
    assert same.labels == ["contradiction", "neutral", "entailment"]


def test_not_a_classifier_or_missing_says_so(tmp_path: Path) -> None:
    from transformers import BertConfig, BertModel

    base = tmp_path / "base"
    BertModel(
        BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=32)
    ).save_pretrained(base)  # fmt: skip
    with pytest.raises(ConfigError, match=r"not a sequence-classification model \(.*BertModel"):
        NLIModel(str(base))
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=f"looked for a folder at {missing}"):
        NLIModel(str(missing))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        NLIModel(str(empty))
    with pytest.raises(ConfigError, match="needs a local NLI model"):
        NLIScorer()


def test_a_base_model_without_architectures_is_refused_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Its head would be random: said before any label question, with no load report."""
    from transformers import BertConfig, BertModel

    base = tmp_path / "base"
    BertModel(
        BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=32)
    ).save_pretrained(base)  # fmt: skip
    config = json.loads((base / "config.json").read_text())
    config.pop("architectures", None)
    (base / "config.json").write_text(json.dumps(config))
    capfd.readouterr()
    with pytest.raises(ConfigError, match="no trained classifier head"):
        NLIModel(str(base))
    out, err = capfd.readouterr()
    assert "LOAD REPORT" not in out + err and "missing" not in (out + err).lower()


def test_a_folder_without_tokenizer_files_is_refused(tmp_path: Path) -> None:
    folder = build_nli_model(tmp_path / "m", bias=BIAS)
    for path in folder.iterdir():
        if path.name.startswith(("tokenizer", "vocab", "special_tokens")):
            path.unlink()
    with pytest.raises(ConfigError, match=r"tokenizer has \d+ tokens for a model of 29.*files"):
        NLIModel(str(folder))
    from harness.metrics._encoder import Encoder, resolve_encoder

    with pytest.raises(ConfigError, match=r"BERTScore encoder .* tokenizer has \d+ tokens"):
        Encoder(resolve_encoder(str(folder)), num_layers=1)


def test_max_length_must_fit_the_model(tmp_path: Path) -> None:
    folder = build_nli_model(tmp_path / "m", bias=BIAS)
    with pytest.raises(ConfigError, match=r"max_length=1000 is more than .* reads \(64 tokens\)"):
        NLIModel(str(folder), max_length=1000)
    with pytest.raises(ConfigError, match="max_length must be at least 8 tokens, not -1"):
        NLIModel(str(folder), max_length=-1)
    assert NLIModel(str(folder), max_length=32).max_length == 32


def test_only_absolute_positions_cap_max_length() -> None:
    from transformers import BertConfig, DebertaV2Config, RobertaConfig

    from harness.scorers.hallucination.nli_model import _position_limit

    relative = DebertaV2Config(position_biased_input=False, relative_attention=True)
    assert _position_limit(relative) is None  # DeBERTa-v3 MNLI reads past 512
    assert _position_limit(BertConfig(max_position_embeddings=512)) == 512
    assert _position_limit(RobertaConfig(max_position_embeddings=514, pad_token_id=1)) == 512


def test_nli_scorer_scores_each_sentence_against_the_context(tmp_path: Path) -> None:
    folder = build_nli_model(tmp_path / "m", bias=BIAS)
    p = softmax(BIAS)  # contradiction, neutral, entailment
    scorer = NLIScorer(model=str(folder), threshold=0.5)
    assert scorer.requires == {"context"} and not scorer.per_item
    records = scorer.score([example(), example(context=None)])
    entailment, contradiction, unscored = records
    assert entailment.metric == "nli_entailment" and contradiction.metric == "nli_contradiction"
    assert entailment.value == pytest.approx(p[2], abs=1e-5)
    assert contradiction.value == pytest.approx(p[0], abs=1e-5)
    assert entailment.label == "hallucination"  # P(entailment) = 0.04 < 0.5
    assert entailment.details is not None and len(entailment.details["sentences"]) == 2
    assert unscored.value is None and unscored.details is not None
    assert "no context" in unscored.details["error"]
    assert {"nli_contradiction", RATE} <= scorer.lower_is_better
    assert f"model:{folder}" in scorer.signature()
    assert NLIScorer(model=str(folder), source="reference").requires == {"reference"}


def test_long_contexts_are_cut_and_counted(tmp_path: Path) -> None:
    folder = build_nli_model(tmp_path / "m", bias=BIAS)
    scorer = NLIScorer(model=str(folder), max_length=16)
    (record, _) = scorer.score([example(context=" ".join(["paris"] * 40))])
    assert record.details is not None and record.details["truncated"] == 2
    assert record.value == pytest.approx(softmax(BIAS)[2], abs=1e-5)


def test_selfcheck_nli_uses_contradiction_over_entailment_plus_contradiction(
    tmp_path: Path,
) -> None:
    folder = build_nli_model(tmp_path / "m", bias=BIAS)
    p = softmax(BIAS)
    scorer = SelfCheck(method="nli", samples=2, model=str(folder))
    (record,) = scorer.score([example(RESPONSE, CONTEXT, "Paris is big.", "London is big.")])
    assert record.value == pytest.approx(p[0] / (p[0] + p[2]), abs=1e-5)
    assert record.label == "hallucination"
    assert (
        record.details is not None
        and record.details["sentences"][0]["per_sample"]
        == [pytest.approx(p[0] / (p[0] + p[2]), abs=1e-5)] * 2
    )


def test_run_nli_through_the_cli(tmp_path: Path, db_path: Path, fake_registered: None) -> None:
    folder = build_nli_model(tmp_path / "m", bias=[-1.0, 0.0, 2.0])  # entailment wins
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"id": f"q{i}", "question": "Where?", "answer": "Paris.", "context": CONTEXT}
            for i in range(3)
        ],
    )
    result = CliRunner().invoke(
        app,
        ["run", str(data), "--model", "fake", "--scorers", "nli",
         "--scorer-option", f"nli.model={folder}", "--db", str(db_path), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(db_path)
    labels = [
        r[0] for r in conn.execute("SELECT label FROM scores WHERE metric = 'nli_entailment'")
    ]
    rate = conn.execute(
        "SELECT value, n, details FROM run_metrics WHERE metric = ?", [RATE]
    ).fetchone()
    conn.close()
    assert labels == ["ok"] * 3
    assert rate[0] == 0.0 and rate[1] == 3
    assert json.loads(rate[2])["rule"] == "nli_entailment < 0.5"
