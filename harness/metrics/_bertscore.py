"""BERTScore (Zhang et al., ICLR 2020): greedy matching, idf, baselines, the scoring model.

The numbers follow bert-score 0.3.13's `score()`: each text is stripped, tokenized with the
special tokens and truncated to the model's maximum length; tokens are embedded by the
encoder cut to `num_layers` layers and normalised; each candidate token is matched to its
most similar reference token (precision) and each reference token to its most similar
candidate token (recall), weighted by idf (or 1, with [CLS]/[SEP] at 0); F is their
harmonic mean. An empty candidate or reference scores P = R = F = 0 before rescaling
(bert-score 0.3.13 means the same, though under transformers 5 it crashes on empty text).
Several references: P, R and F are each the maximum over the references (bert-score's
rule); `best_reference` is the reference with the highest F. Rescaling with a baseline b
maps x to (x - b) / (1 - b), per layer, from a CSV in bert-score's format (LAYER,P,R,F).

Speed: each distinct text is embedded once (`_encoder.Encoder`: length-sorted batches), and
pairs are matched many at a time in padded blocks sorted by length.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.metrics._encoder import (
    PACKAGED_LAYERS,
    Embedded,
    Encoder,
    EncoderSpec,
    cpu_has_bf16,
    package_version,
    packaged_encoder_dir,
    resolve_encoder,
)

SHIPPED_BASELINE = "all-MiniLM-L6-v2.csv"
WINDOW = 4096
"""Predictions embedded and matched together; bounds memory on very large calls."""
MATCH_BUDGET = 4_000_000
"""Most similarity-matrix cells (pairs x candidate tokens x reference tokens) per block."""


def baselines_dir() -> Path:
    """The folder of shipped baselines (found through the installed package, not __file__,
    because `evaluate.load` runs a copy of this file from its own cache)."""
    spec = importlib.util.find_spec("harness")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "metrics" / "baselines"


def idf_table(encoder: Encoder, corpus: Sequence[str]) -> Any:
    """idf per token id over `corpus` (one document per text), as bert-score computes it:
    log((N + 1) / (df + 1)), and log(N + 1) for tokens the corpus lacks."""
    import torch

    counts: Counter[int] = Counter()
    for ids in encoder.tokenize(corpus):
        counts.update(set(ids))
    n = len(corpus)
    table = torch.full((encoder.vocab_size,), math.log(n + 1), dtype=torch.float32)
    if counts:
        keys = torch.tensor(list(counts), dtype=torch.long)
        df = torch.tensor(list(counts.values()), dtype=torch.float32)
        table[keys] = torch.log((n + 1) / (df + 1))
    return table


def _weights(encoder: Encoder, emb: Embedded, idf: Any | None) -> Any:
    import torch

    if idf is None:
        weights = (~torch.isin(emb.token_ids, encoder.special_ids)).float()
    else:
        weights = idf[emb.token_ids.clamp(max=len(idf) - 1)].clone()
    weights[-1] = 0.0
    return weights.to(encoder.device)


def _blocks(order: list[int], hyp_len: list[int], ref_len: list[int]) -> Iterator[list[int]]:
    """Consecutive runs of the sorted pairs whose padded similarity matrices fit the budget."""
    block: list[int] = []
    width_h = width_r = 0
    for k in order:
        h, r = max(width_h, hyp_len[k]), max(width_r, ref_len[k])
        if block and (len(block) + 1) * h * r > MATCH_BUDGET:
            yield block
            block, h, r = [], hyp_len[k], ref_len[k]
        block.append(k)
        width_h, width_r = h, r
    if block:
        yield block


def greedy_match(
    emb: Embedded, weights: Any, hyps: Sequence[int], refs: Sequence[int]
) -> tuple[list[float], list[float], list[float]]:
    """Greedy cosine matching of each (candidate, reference) pair of text indices: P, R, F."""
    import torch

    lengths = emb.lengths.tolist()
    hyp_len = [lengths[i] for i in hyps]
    ref_len = [lengths[i] for i in refs]
    order = sorted(range(len(hyps)), key=lambda k: (hyp_len[k], ref_len[k]))
    precision, recall = [0.0] * len(hyps), [0.0] * len(hyps)
    pad_row = emb.flat.shape[0] - 1
    device = emb.flat.device

    def gather(texts: list[int]) -> tuple[Any, Any, Any]:
        lens = emb.lengths[texts]
        width = int(lens.max())
        steps = torch.arange(width)
        valid = steps[None, :] < lens[:, None]
        index = torch.where(valid, emb.offsets[texts][:, None] + steps[None, :], pad_row)
        flat_index = index.reshape(-1).to(device)
        vectors = emb.flat.index_select(0, flat_index).view(len(texts), width, -1)
        return vectors, weights.index_select(0, flat_index).view_as(valid), valid.to(device)

    with torch.inference_mode():
        for block in _blocks(order, hyp_len, ref_len):
            h_emb, h_w, h_valid = gather([hyps[k] for k in block])
            r_emb, r_w, r_valid = gather([refs[k] for k in block])
            sim = torch.bmm(h_emb, r_emb.transpose(1, 2)).clamp_(max=1.0)  # cosines: float
            sim.masked_fill_(~(h_valid[:, :, None] & r_valid[:, None, :]), -2.0)
            p = (sim.max(dim=2).values * h_w).sum(1) / h_w.sum(1)
            r = (sim.max(dim=1).values * r_w).sum(1) / r_w.sum(1)
            for k, pv, rv in zip(block, p.tolist(), r.tolist(), strict=True):
                precision[k], recall[k] = pv, rv
    f1 = []
    for k in range(len(hyps)):
        p_k, r_k = precision[k], recall[k]
        # a side whose idf weights are all 0 is undefined (bert-score: NaN): 0 here, and
        # F is 0, as bert-score has it; the other side keeps its value
        undefined = math.isnan(p_k) or math.isnan(r_k)
        p_k, r_k = (0.0 if math.isnan(p_k) else p_k), (0.0 if math.isnan(r_k) else r_k)
        precision[k], recall[k] = p_k, r_k
        f1.append(0.0 if undefined or p_k + r_k == 0 else 2 * p_k * r_k / (p_k + r_k))
    return precision, recall, f1


@dataclass(frozen=True, slots=True)
class Baseline:
    """A rescale baseline in bert-score's CSV format: LAYER,P,R,F, one row per layer."""

    path: str
    sha256: str
    rows: dict[int, tuple[float, float, float]]

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        file = Path(path).expanduser()
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read BERTScore baseline {file}: {exc.strerror}") from exc
        lines = [line.strip() for line in data.decode().splitlines() if line.strip()]
        if not lines or [c.strip() for c in lines[0].split(",")] != ["LAYER", "P", "R", "F"]:
            raise ConfigError(f"{file}: a BERTScore baseline starts with the header LAYER,P,R,F")
        rows = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                layer, p, r, f = line.split(",")
                rows[int(layer)] = (float(p), float(r), float(f))
            except ValueError as exc:
                raise ConfigError(f"{file}, line {number}: expected LAYER,P,R,F numbers") from exc
        return cls(str(file), hashlib.sha256(data).hexdigest()[:12], rows)

    def row(self, layer: int) -> tuple[float, float, float]:
        if layer not in self.rows:
            raise ConfigError(
                f"BERTScore baseline {self.path} has no row for layer {layer} "
                f"(it has {sorted(self.rows)}); compute one with "
                "scripts/compute_bertscore_baseline.py"
            )
        return self.rows[layer]


@dataclass(slots=True)
class Scores:
    """BERTScore of each prediction against its best reference(s)."""

    precision: list[float]
    recall: list[float]
    f1: list[float]
    best_reference: list[int]


class BertScoreModel:
    """Everything that decides a BERTScore number, loaded once: encoder, layer, idf, baseline."""

    def __init__(
        self,
        model: str | None = None,
        num_layers: int | None = None,
        *,
        idf: bool = False,
        rescale_with_baseline: bool | None = None,
        baseline_path: str | None = None,
        batch_size: int = 64,
        device: str = "auto",
        bf16: bool | str = "auto",
        threads: int | None = None,
    ) -> None:
        spec = resolve_encoder(model)
        if num_layers is None:
            if not spec.packaged:
                raise ConfigError(
                    f"bertscore.num_layers is needed for the encoder '{spec.name}': give the "
                    "layer to use (bert-score's tuned choices: roberta-large 17, "
                    "bert-base-uncased 9, deberta-xlarge-mnli 40)"
                )
            num_layers = PACKAGED_LAYERS
        if isinstance(num_layers, bool) or not isinstance(num_layers, int):
            raise ConfigError(f"bertscore.num_layers must be a whole number, not {num_layers!r}")
        if not isinstance(idf, bool):
            raise ConfigError(f"bertscore.idf must be true or false, not {idf!r}")
        self.baseline = self._baseline(spec, rescale_with_baseline, baseline_path)
        self.idf = idf
        self.num_layers = num_layers
        self.encoder = Encoder(
            spec, num_layers, batch_size=batch_size, device=device, bf16=bf16, threads=threads
        )
        if self.baseline is not None:
            self.baseline.row(num_layers)

    @staticmethod
    def _baseline(spec: EncoderSpec, rescale: bool | None, path: str | None) -> Baseline | None:
        if rescale is None:
            rescale = spec.packaged or path is not None
        if not rescale:
            if path is not None:
                raise ConfigError(
                    "bertscore.baseline_path is set but rescale_with_baseline is false"
                )
            return None
        if path is not None:
            return Baseline.load(path)
        if not spec.packaged:
            raise ConfigError(
                f"no rescale baseline is shipped for the encoder '{spec.name}': compute one with "
                "scripts/compute_bertscore_baseline.py and pass bertscore.baseline_path=FILE, "
                "or set bertscore.rescale_with_baseline=false"
            )
        return Baseline.load(baselines_dir() / SHIPPED_BASELINE)

    def settings(self) -> dict[str, Any]:
        """Every setting and version that changes the numbers."""
        import torch
        import transformers

        rescale = f"baseline-{self.baseline.sha256}" if self.baseline else "none"
        return {
            "model": self.encoder.spec.name,
            "num_layers": self.encoder.num_layers,
            "idf": self.idf,
            "rescale": rescale,
            "bf16": self.encoder.bf16,
            "tokenizer": "fast",
            "bert_score": package_version("bert-score"),
            "transformers": transformers.__version__,
            "torch": torch.__version__.split("+")[0],
        }

    def score(
        self,
        predictions: Sequence[str],
        references: Sequence[Sequence[str]],
        idf_corpus: Sequence[str] | None = None,
        idf_weights: Any | None = None,
    ) -> Scores:
        """Score each prediction against its references (each group needs one or more).

        With idf on, idf comes from `idf_corpus`, or else from every reference given, one
        document per (prediction, reference) pair as bert-score counts them.
        """
        if len(predictions) != len(references):
            raise ValueError(
                f"{len(predictions)} predictions but {len(references)} reference groups"
            )
        if any(len(group) == 0 for group in references):
            raise ValueError("every prediction needs at least one reference")
        idf = None
        if self.idf and idf_weights is not None:
            idf = idf_weights
        elif self.idf:
            corpus = idf_corpus if idf_corpus is not None else [r for g in references for r in g]
            idf = idf_table(self.encoder, corpus)
        out = Scores([], [], [], [])
        for start in range(0, len(predictions), WINDOW):
            part = self._window(
                predictions[start : start + WINDOW], references[start : start + WINDOW], idf
            )
            for name in ("precision", "recall", "f1", "best_reference"):
                getattr(out, name).extend(getattr(part, name))
        return out

    def _window(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], idf: Any | None
    ) -> Scores:
        if not predictions:
            return Scores([], [], [], [])
        texts: dict[str, int] = {}
        hyps, refs, owner = [], [], []
        for i, (prediction, group) in enumerate(zip(predictions, references, strict=True)):
            for reference in group:
                hyps.append(texts.setdefault(prediction.strip(), len(texts)))
                refs.append(texts.setdefault(reference.strip(), len(texts)))
                owner.append(i)
        ids = self.encoder.tokenize(list(texts))
        emb = self.encoder.embed(ids)
        precision, recall, f1 = greedy_match(emb, _weights(self.encoder, emb, idf), hyps, refs)
        empty = [len(x) <= self.encoder.empty_length for x in ids]
        for k in range(len(hyps)):
            if empty[hyps[k]] or empty[refs[k]]:
                precision[k] = recall[k] = f1[k] = 0.0
        n = len(predictions)
        out = Scores([-math.inf] * n, [-math.inf] * n, [-math.inf] * n, [0] * n)
        seen = [0] * n
        for k, i in enumerate(owner):
            out.precision[i] = max(out.precision[i], precision[k])
            out.recall[i] = max(out.recall[i], recall[k])
            if f1[k] > out.f1[i]:
                out.f1[i], out.best_reference[i] = f1[k], seen[i]
            seen[i] += 1
        if self.baseline is not None:
            bp, br, bf = self.baseline.row(self.encoder.num_layers)
            out.precision = [(x - bp) / (1 - bp) for x in out.precision]
            out.recall = [(x - br) / (1 - br) for x in out.recall]
            out.f1 = [(x - bf) / (1 - bf) for x in out.f1]
        return out


__all__ = [
    "SHIPPED_BASELINE",
    "Baseline",
    "BertScoreModel",
    "Scores",
    "baselines_dir",
    "cpu_has_bf16",
    "greedy_match",
    "idf_table",
    "packaged_encoder_dir",
    "resolve_encoder",
]
