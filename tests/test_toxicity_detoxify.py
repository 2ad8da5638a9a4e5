"""The toxicity scorer's detoxify backend: detoxify checkpoints loaded offline.

detoxify 0.5.4 itself fails here (it asks the hub for the base model's config even when
given a local folder). These tests build a tiny random BERT in detoxify's checkpoint
layout (config.arch.args, config.dataset.args.classes, state_dict) with its config and
tokenizer saved locally, and check the round trip, the cache lookups and the errors.
"""

from __future__ import annotations

import hashlib
import types
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.item import Item
from harness.scorers.base import Example, ScoreRecord

JIGSAW = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
SIX = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]


def examples(texts: list[str]) -> list[Example]:
    return [Example(Item(f"t{i}", "prompt"), 0, text) for i, text in enumerate(texts)]


def by_metric(records: list[ScoreRecord], metric: str) -> list[ScoreRecord]:
    return [r for r in records if r.metric == metric]


TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "you", "are", "a", "nice", "fool"]
TINY_VOCAB += ["the", "cat", "sat", "on", "mat", "thanks", "for", "help", "idiot", "!", ",", "."]
DETOXIFY_CLASSES = [*JIGSAW, "sexual_explicit"]


def _tiny_detoxify(
    folder: Path, model_type: str, prefix: str = "", outputs: int = len(DETOXIFY_CLASSES)
) -> tuple[Path, Any]:
    """A tiny random BERT in detoxify's checkpoint layout, with its config and tokenizer.

    Returns the checkpoint path and the model itself (to compute expected outputs).
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(TINY_VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=24,
        num_labels=outputs,
    )
    model = BertForSequenceClassification(config).eval()
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(TINY_VOCAB)})
    config_dir = folder / "config"
    config.save_pretrained(config_dir)
    tokenizer.save_pretrained(config_dir)
    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    "model_type": model_type,
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": outputs,
                }
            },
            "dataset": {"args": {"classes": DETOXIFY_CLASSES}},
        },
        "state_dict": {prefix + k: v for k, v in model.state_dict().items()},
    }
    path = folder / "tiny.ckpt"
    torch.save(checkpoint, path)
    return path, (model, tokenizer)


def _expected(model_and_tokenizer: Any, texts: list[str]) -> list[list[float]]:
    import torch

    model, tokenizer = model_and_tokenizer
    rows = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer([text], return_tensors="pt", truncation=True, max_length=24)
            rows.append(torch.sigmoid(model(**inputs).logits)[0].tolist())
    return rows


DETOX_TEXTS = ["you are a nice cat", "you are a fool!", "", "thanks for the help , " * 20]


@pytest.mark.parametrize("prefix", ["", "model."])
def test_detoxify_checkpoint_round_trip(tmp_path: Path, prefix: str) -> None:
    from harness.scorers.toxicity import Toxicity

    path, original = _tiny_detoxify(tmp_path, "bert-base-uncased", prefix)
    scorer = Toxicity(
        backend="detoxify",
        checkpoint=str(path),
        config_path=str(tmp_path / "config"),
        batch_size=2,
    )
    records = scorer.score(examples(DETOX_TEXTS))
    expected = _expected(original, DETOX_TEXTS)
    for i, row in enumerate(expected):
        mine = [r for r in records if r.item_id == f"t{i}"]
        assert [r.metric for r in mine] == SIX
        assert [r.value for r in mine] == pytest.approx(row[:6], abs=1e-5)
        assert mine[0].details["extra"] == {"sexual_explicit": pytest.approx(row[6], abs=1e-5)}
    toxicity = by_metric(records, "toxicity")
    assert [r.details["truncated"] for r in toxicity] == [False, False, False, True]
    assert toxicity[2].details["n_tokens"] == 2  # [CLS] [SEP]
    parts = dict(p.split(":", 1) for p in scorer.signature().split("|")[1:])
    assert parts["backend"] == "detoxify"
    assert parts["model"] == "detoxify-original"
    assert parts["architecture"] == "BertForSequenceClassification"
    assert parts["base"] == "bert-base-uncased"
    assert parts["weights"] == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert parts["languages"] == "en"
    assert parts["max_tokens"] == "24"
    assert "detoxify" in parts and "transformers" in parts


def test_detoxify_finds_hub_caches_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    """A detoxify checkpoint where torch.hub saves it, its base model in the HF cache."""
    import shutil

    from harness.scorers.toxicity import Toxicity
    from harness.scorers.toxicity.detoxify_backend import hub_checkpoint

    path, original = _tiny_detoxify(tmp_path, "tiny-detox-base")
    snapshot = isolated_home / "hf" / "hub" / "models--tiny-detox-base"
    shutil.copytree(tmp_path / "config", snapshot / "snapshots" / "0123abcd")
    (snapshot / "refs").mkdir()
    (snapshot / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("TORCH_HOME", str(isolated_home / "torch"))
    target = hub_checkpoint("multilingual")
    assert target == isolated_home / "torch" / "hub" / "checkpoints" / (
        "multilingual_debiased-0b549669.ckpt"
    )
    target.parent.mkdir(parents=True)
    shutil.copy(path, target)
    scorer = Toxicity(backend="detoxify", variant="multilingual")
    values = [r.value for r in scorer.score(examples(["you are a fool!"]))]
    assert values == pytest.approx(_expected(original, ["you are a fool!"])[0][:6], abs=1e-5)
    assert "languages:en,fr,es,it,pt,tr,ru" in scorer.signature()


def test_detoxify_missing_checkpoint_says_where_and_how(
    monkeypatch: pytest.MonkeyPatch, isolated_home: Path, tmp_path: Path
) -> None:
    from harness.scorers.toxicity import Toxicity

    monkeypatch.setenv("TORCH_HOME", str(isolated_home / "torch"))
    with pytest.raises(ConfigError) as error:
        Toxicity(backend="detoxify", variant="unbiased")
    message = str(error.value)
    assert (
        str(isolated_home / "torch" / "hub" / "checkpoints" / "toxic_debiased-c7548aa0.ckpt")
        in message
    )
    assert "Detoxify('unbiased')" in message and "toxicity.checkpoint=PATH" in message
    with pytest.raises(ConfigError, match=r"checkpoint=/nowhere/x\.ckpt"):
        Toxicity(backend="detoxify", checkpoint="/nowhere/x.ckpt")
    with pytest.raises(ConfigError, match="unknown detoxify variant 'huge'"):
        Toxicity(backend="detoxify", variant="huge")


def test_detoxify_missing_base_config_says_how(tmp_path: Path) -> None:
    from harness.scorers.toxicity import Toxicity

    path, _ = _tiny_detoxify(tmp_path, "not-cached-base")
    with pytest.raises(ConfigError, match=r"'not-cached-base'.*toxicity\.config_path=DIR"):
        Toxicity(backend="detoxify", checkpoint=str(path))


def test_detoxify_refuses_pickled_objects_unless_trusted(tmp_path: Path) -> None:
    import torch

    from harness.scorers.toxicity import Toxicity

    path, _ = _tiny_detoxify(tmp_path, "bert-base-uncased")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["extra"] = types.SimpleNamespace(note="python object")
    torch.save(checkpoint, path)
    options = {
        "backend": "detoxify",
        "checkpoint": str(path),
        "config_path": str(tmp_path / "config"),
    }
    with pytest.raises(ConfigError, match="trust_checkpoint=true"):
        Toxicity(**options)
    assert Toxicity(**options, trust_checkpoint=True).metrics == tuple(SIX)


def test_detoxify_bad_device_fails_clearly(tmp_path: Path) -> None:
    from harness.scorers.toxicity import Toxicity

    path, _ = _tiny_detoxify(tmp_path, "bert-base-uncased")
    with pytest.raises(ConfigError, match="device 'tpu9' cannot be used"):
        Toxicity(
            backend="detoxify",
            checkpoint=str(path),
            config_path=str(tmp_path / "config"),
            device="tpu9",
        )


def test_unbiased_style_checkpoint_with_identity_heads(tmp_path: Path) -> None:
    from harness.scorers.toxicity import Toxicity

    # detoxify's `unbiased` checkpoints: 16 outputs, the 7 named classes first
    path, original = _tiny_detoxify(tmp_path, "bert-base-uncased", outputs=16)
    scorer = Toxicity(
        backend="detoxify", checkpoint=str(path), config_path=str(tmp_path / "config")
    )
    records = scorer.score(examples(DETOX_TEXTS[:2]))
    for i, row in enumerate(_expected(original, DETOX_TEXTS[:2])):
        mine = [r for r in records if r.item_id == f"t{i}"]
        assert [r.value for r in mine] == pytest.approx(row[:6], abs=1e-5)
        assert mine[0].details["extra"] == {"sexual_explicit": pytest.approx(row[6], abs=1e-5)}
