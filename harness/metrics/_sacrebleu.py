"""BLEU and chrF over sacrebleu's sufficient statistics: one implementation for the
evaluate modules (`harness/metrics/bleu.py`, `chrf.py`) and the harness scorers.

Each segment (one hypothesis with its references) becomes a row of sacrebleu's own
statistics. A sentence score is sacrebleu's score of its row; a corpus score is
sacrebleu's score of the summed rows, never a mean of sentence scores. `values` computes
the same numbers with numpy for many summed rows at once (bootstrap resamples).

References are given per segment (``refs[i]`` is every reference of segment i), and the
number may vary from segment to segment: BLEU clips n-gram counts against the maximum
count over that segment's references and takes the reference length closest to the
hypothesis; chrF keeps the statistics of the reference with the best chrF. A segment
without references is scored against one empty reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ConfigError

BLEU_TOKENIZERS = ("13a", "intl", "zh", "char", "none")
SMOOTH_METHODS = ("exp", "floor", "add-k", "none")


def nrefs_label(counts: Sequence[int]) -> int | str:
    """sacrebleu's `nrefs` for segments with these reference counts: the number, or 'var'."""
    distinct = set(counts)
    if len(distinct) == 1:
        return distinct.pop()
    return "var"


class SacrebleuCore(ABC):
    """Statistics, sentence and corpus scores of one sacrebleu metric with fixed settings."""

    metric: Any
    name: str = ""

    def stats(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[list[int]]:
        """One row of sufficient statistics per segment."""
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
        # One segment at a time through sacrebleu's per-segment steps (the ones its
        # sentence_score runs): faster than one call per batch, whose reference n-gram
        # tables for the whole batch fall out of the CPU caches.
        metric = self.metric
        prepare = metric._preprocess_segment
        rows: list[list[int]] = []
        for hypothesis, refs in zip(hypotheses, references, strict=True):
            info = metric._extract_reference_info([prepare(r) for r in refs] or [""])
            rows.append(metric._compute_segment_statistics(prepare(hypothesis), info))
        return rows

    @abstractmethod
    def sentence_score(self, row: Sequence[float]) -> float:
        """The sentence-level score of one row, as sacrebleu's sentence scorer gives it."""

    @abstractmethod
    def corpus_score(self, summed: Sequence[float]) -> dict[str, Any]:
        """sacrebleu's corpus score of summed statistics, with its parts."""

    @abstractmethod
    def values(self, summed: np.ndarray) -> np.ndarray:
        """Corpus scores of many summed rows at once: (k, d) -> (k,)."""

    def signature(self, nrefs: int | str = "var", *, sentence: bool = False) -> str:
        """sacrebleu's own signature string for these settings and `nrefs` references."""
        args = dict(self.metric.__dict__)
        args["num_refs"] = -1 if nrefs == "var" else nrefs
        if sentence:
            args.update(self._sentence_args())
        text: str = self.metric._SIGNATURE_TYPE(args).format()
        return text

    def _sentence_args(self) -> dict[str, Any]:
        return {}

    def corpus(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> dict[str, Any]:
        """The corpus score of whole lists, with sacrebleu's signature (real `nrefs`)."""
        rows = self.stats(hypotheses, references)
        width = self.width
        summed = np.asarray(rows, dtype=np.int64).sum(axis=0) if rows else np.zeros(width)
        result = self.corpus_score([int(v) for v in summed])
        counts = [len(refs) or 1 for refs in references]
        result["signature"] = self.signature(nrefs_label(counts) if counts else 1)
        return result

    @property
    @abstractmethod
    def width(self) -> int:
        """How many numbers a row of statistics has."""


class BleuCore(SacrebleuCore):
    """BLEU (Papineni et al., 2002) as sacrebleu computes it.

    Statistics per segment: ``[hyp_len, ref_len, correct_1..N, total_1..N]``. Sentence
    scores use effective order (as ``sacrebleu.sentence_bleu``); corpus scores use
    `effective_order` (False by default, as ``sacrebleu.corpus_bleu``). `smooth_method`
    and `smooth_value` apply to both, as in sacrebleu.
    """

    name = "bleu"

    def __init__(
        self,
        tokenize: str = "13a",
        lowercase: bool = False,
        smooth_method: str = "exp",
        smooth_value: float | None = None,
        max_ngram_order: int = 4,
        effective_order: bool = False,
    ) -> None:
        if tokenize not in BLEU_TOKENIZERS:
            raise ConfigError(
                f"bleu: unknown tokenize '{tokenize}'; use one of {', '.join(BLEU_TOKENIZERS)}"
            )
        if smooth_method not in SMOOTH_METHODS:
            raise ConfigError(
                f"bleu: unknown smooth_method '{smooth_method}'; "
                f"use one of {', '.join(SMOOTH_METHODS)}"
            )
        if not isinstance(max_ngram_order, int) or not 1 <= max_ngram_order <= 9:
            raise ConfigError(f"bleu: max_ngram_order must be 1-9, not {max_ngram_order!r}")
        if smooth_value is not None and (
            not isinstance(smooth_value, int | float) or smooth_value < 0
        ):
            raise ConfigError(f"bleu: smooth_value must be a number >= 0, not {smooth_value!r}")
        from sacrebleu.metrics import BLEU

        self.order = max_ngram_order
        self.smooth_method = smooth_method
        self.smooth_value = smooth_value
        self.effective_order = effective_order
        self.metric = BLEU(
            lowercase=lowercase,
            tokenize=tokenize,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            max_ngram_order=max_ngram_order,
            effective_order=effective_order,
        )

    @property
    def width(self) -> int:
        return 2 + 2 * self.order

    def _bleu(self, row: Sequence[float], effective: bool) -> Any:
        from sacrebleu.metrics import BLEU

        n = self.order
        return BLEU.compute_bleu(
            correct=[int(v) for v in row[2 : 2 + n]],
            total=[int(v) for v in row[2 + n : 2 + 2 * n]],
            sys_len=int(row[0]),
            ref_len=int(row[1]),
            smooth_method=self.smooth_method,
            smooth_value=self.smooth_value,
            effective_order=effective,
            max_ngram_order=n,
        )

    def sentence_score(self, row: Sequence[float]) -> float:
        return float(self._bleu(row, True).score)

    def sentence_scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Sentence scores of many rows (one loop, no per-call checks)."""
        return [float(self._bleu(row, True).score) for row in rows]

    def corpus_score(self, summed: Sequence[float]) -> dict[str, Any]:
        score = self._bleu(summed, self.effective_order)
        return {
            "score": float(score.score),
            "counts": [int(c) for c in summed[2 : 2 + self.order]],
            "totals": [int(t) for t in summed[2 + self.order :]],
            "precisions": [float(p) for p in score.precisions],
            "bp": float(score.bp),
            "sys_len": int(summed[0]),
            "ref_len": int(summed[1]),
        }

    def _sentence_args(self) -> dict[str, Any]:
        return {"effective_order": True}

    def values(self, summed: np.ndarray) -> np.ndarray:
        return bleu_values(
            summed,
            self.order,
            smooth_method=self.smooth_method,
            smooth_value=self.smooth_value,
            effective_order=self.effective_order,
        )


def bleu_values(
    summed: np.ndarray,
    order: int = 4,
    *,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    effective_order: bool = False,
) -> np.ndarray:
    """sacrebleu's `BLEU.compute_bleu` for each row of (k, 2 + 2*order) summed statistics."""
    stats = np.atleast_2d(np.asarray(summed, dtype=np.float64))
    k = stats.shape[0]
    sys_len, ref_len = stats[:, 0], stats[:, 1]
    raw_correct = stats[:, 2 : 2 + order]
    correct = raw_correct.copy()
    total = stats[:, 2 + order : 2 + 2 * order].copy()
    if smooth_value is None:
        smooth_value = {"floor": 0.1, "add-k": 1.0}.get(smooth_method, 0.0)
    if smooth_method == "add-k":
        correct[:, 1:] += smooth_value
        total[:, 1:] += smooth_value
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(
            sys_len < ref_len,
            np.where(sys_len > 0, np.exp(1 - ref_len / np.where(sys_len > 0, sys_len, 1)), 0.0),
            1.0,
        )
    # Orders after the first one with no hypothesis n-grams are left out (sacrebleu breaks).
    used = np.cumprod(total > 0, axis=1).astype(bool)
    zero = correct == 0
    safe_total = np.where(total > 0, total, 1.0)
    precision = 100.0 * correct / safe_total
    if smooth_method == "exp":
        doubling = np.cumsum(zero & used, axis=1)
        precision = np.where(zero, 100.0 / (2.0**doubling * safe_total), precision)
    elif smooth_method == "floor":
        precision = np.where(zero, 100.0 * smooth_value / safe_total, precision)
    precision = np.where(used, precision, 0.0)
    with np.errstate(divide="ignore"):
        logs = np.where(precision > 0, np.log(np.where(precision > 0, precision, 1.0)), -9999999999)
    if effective_order:
        eff = np.maximum(used.sum(axis=1), 1)
        eff = np.where(used.any(axis=1), eff, order)
    else:
        eff = np.full(k, order)
    mask = np.arange(order)[None, :] < eff[:, None]
    score = bp * np.exp((logs * mask).sum(axis=1) / eff)
    no_match = ~(raw_correct != 0).any(axis=1)
    out: np.ndarray = np.where(no_match, 0.0, score)
    return out


class ChrfCore(SacrebleuCore):
    """chrF / chrF++ (Popović 2015, 2017) as sacrebleu computes it.

    Statistics per segment: ``[hyp, ref, match]`` for each character order, then each
    word order, taken from the reference with the best sentence chrF.
    """

    name = "chrf"

    def __init__(
        self,
        char_order: int = 6,
        word_order: int = 0,
        beta: int = 2,
        lowercase: bool = False,
        whitespace: bool = False,
        eps_smoothing: bool = False,
    ) -> None:
        for key, value, low in (("char_order", char_order, 1), ("word_order", word_order, 0)):
            if not isinstance(value, int) or not low <= value <= 10:
                raise ConfigError(f"chrf: {key} must be an integer {low}-10, not {value!r}")
        if not isinstance(beta, int | float) or beta <= 0:
            raise ConfigError(f"chrf: beta must be a positive number, not {beta!r}")
        from sacrebleu.metrics import CHRF

        self.metric = CHRF(
            char_order=char_order,
            word_order=word_order,
            beta=beta,
            lowercase=lowercase,
            whitespace=whitespace,
            eps_smoothing=eps_smoothing,
        )
        self.order = char_order + word_order
        self.beta = beta
        self.eps_smoothing = eps_smoothing

    @property
    def width(self) -> int:
        return 3 * self.order

    def sentence_score(self, row: Sequence[float]) -> float:
        return float(self.metric._compute_f_score(row))

    def sentence_scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Sentence scores of many rows."""
        f_score = self.metric._compute_f_score
        return [float(f_score(row)) for row in rows]

    def corpus_score(self, summed: Sequence[float]) -> dict[str, Any]:
        return {
            "score": float(self.metric._compute_f_score(list(summed))),
            "char_order": self.metric.char_order,
            "word_order": self.metric.word_order,
            "beta": self.beta,
        }

    def values(self, summed: np.ndarray) -> np.ndarray:
        return chrf_values(summed, self.order, beta=self.beta, eps_smoothing=self.eps_smoothing)


def chrf_values(
    summed: np.ndarray, order: int = 6, *, beta: float = 2, eps_smoothing: bool = False
) -> np.ndarray:
    """sacrebleu's chrF F-score for each row of (k, 3*order) summed statistics."""
    stats = np.atleast_2d(np.asarray(summed, dtype=np.float64)).reshape(-1, order, 3)
    n_hyp, n_ref, n_match = stats[..., 0], stats[..., 1], stats[..., 2]
    eps = 1e-16
    factor = beta**2
    prec = np.where(n_hyp > 0, n_match / np.where(n_hyp > 0, n_hyp, 1.0), eps)
    rec = np.where(n_ref > 0, n_match / np.where(n_ref > 0, n_ref, 1.0), eps)
    if eps_smoothing:
        denom = factor * prec + rec
        per_order = np.where(
            denom > 0, (1 + factor) * prec * rec / np.where(denom > 0, denom, 1.0), eps
        )
        eps_out: np.ndarray = 100 * per_order.sum(axis=1) / order
        return eps_out
    effective = (n_hyp > 0) & (n_ref > 0)
    count = effective.sum(axis=1)
    safe = np.maximum(count, 1)
    avg_prec = np.where(count > 0, (prec * effective).sum(axis=1) / safe, 0.0)
    avg_rec = np.where(count > 0, (rec * effective).sum(axis=1) / safe, 0.0)
    denom = factor * avg_prec + avg_rec
    score = (1 + factor) * avg_prec * avg_rec / np.where(denom > 0, denom, 1.0)
    out: np.ndarray = np.where(avg_prec + avg_rec > 0, 100 * score, 0.0)
    return out
