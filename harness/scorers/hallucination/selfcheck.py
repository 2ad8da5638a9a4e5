"""`selfcheck`: reference-free hallucination detection by sampling consistency.

After SelfCheckGPT (Manakul et al., EMNLP 2023): a model that knows a fact states it
consistently across samples; a hallucinated sentence tends not to be supported by other
samples of the same prompt. The main response (sample 0) is split into sentences; each is
scored against the `samples` extra responses (samples 1..n of `--samples n+1`):

- `bertscore`: 1 - the mean over samples of the highest BERTScore F1 (packaged MiniLM,
  rescaled with its baseline) between the sentence and the sample's sentences;
- `ngram`: the negative log-probability of the sentence's tokens under an n-gram model
  fitted to the samples and the response (`ngram_score`: max, the paper's best, or avg);
- `prompt`: the share of samples of which a judge says the sentence is not supported
  (the paper's question, "Is the sentence supported by the context above? Answer Yes or
  No."); an unreadable reply counts for nothing (kept, with its raw text, in the details);
- `nli`: the mean over samples of P(contradiction) / (P(entailment) + P(contradiction))
  from a local NLI model, the sample as premise.

Higher means less consistent. The item's `selfcheck` value is the mean over its sentences
(sentence scores in the details); it is labelled `hallucination` at or above `threshold`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.errors import ConfigError
from harness.scorers.base import Example, ScoreRecord
from harness.scorers.hallucination.aggregate import RATE, HallucinationScorer
from harness.scorers.hallucination.sentences import sample_sentences, sentences, word_tokens

METHODS = ("bertscore", "ngram", "prompt", "nli")
DEFAULT_THRESHOLDS = {"bertscore": 0.5, "prompt": 0.5, "nli": 0.5}
"""Round defaults, not tuned; the ngram scale depends on sample count and length, so it
has none. Calibrate on labelled data of your own (see docs/hallucination.md)."""


@dataclass(slots=True)
class _Work:
    """One item to score: its main-response sentences and the samples to compare with."""

    example: Example
    main: list[str]
    extra: list[str]
    numbers: list[int]
    """The sample number of each entry of `extra`."""
    scores: list[float | None] = field(default_factory=list)
    per_sample: list[list[float | None]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class SelfCheck(HallucinationScorer):
    """SelfCheckGPT-style sentence inconsistency against extra samples (higher is worse).

    Options: method (bertscore, ngram, prompt, nli), samples (extra samples used; the
    run needs `--samples samples+1`), threshold, ngram_n, ngram_score (max/avg), ngram_k,
    model (BERTScore encoder, or the NLI model for method=nli), num_layers,
    rescale_with_baseline and baseline_path (for another encoder, as for the bertscore
    scorer), labels (NLI label order),
    batch_size (texts per forward pass: 32 suits a CPU, raise it on a GPU), device, bf16,
    threads; for method=prompt the judge options (judges,
    repeats, temperature, seed, max_tokens, concurrency, timeout, max_retries, api_key_env,
    adapter_options, cache_db, cache) as for the judge scorer.
    """

    name = "selfcheck"
    version = "2"  # 2: fragments join a sentence; self-contradicting verdicts unreadable
    per_item = True
    uses_judge: ClassVar[bool] = True
    """Receives `--judge` etc. (used by method=prompt only)."""
    primary: ClassVar[str] = "selfcheck"
    higher_is_worse: ClassVar[bool] = True
    lower_is_better: ClassVar[frozenset[str]] = frozenset({"selfcheck", RATE})

    def __init__(
        self,
        method: str = "bertscore",
        samples: int = 5,
        threshold: float | None = None,
        ngram_n: int = 1,
        ngram_score: str = "max",
        ngram_k: float = 0.0,
        model: str | None = None,
        num_layers: int | None = None,
        rescale_with_baseline: bool | None = None,
        baseline_path: str | None = None,
        labels: str | None = None,
        batch_size: int = 32,
        device: str = "auto",
        bf16: bool | str = "auto",
        threads: int | None = None,
        judges: Sequence[str] | str | None = None,
        repeats: int = 1,
        temperature: float = 0.0,
        seed: int | None = None,
        max_tokens: int = 24,
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 3,
        api_key_env: str = "OPENAI_API_KEY",
        adapter_options: dict[str, Any] | None = None,
        cache_db: str | None = None,
        cache: bool = True,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(
                f"selfcheck.method must be one of {', '.join(METHODS)}, not {method!r}"
            )
        if not isinstance(samples, int) or samples < 1:
            raise ConfigError(
                f"selfcheck.samples must be a whole number of at least 1, not {samples!r}"
            )
        if threshold is None:
            if method not in DEFAULT_THRESHOLDS:
                raise ConfigError(
                    "selfcheck.method=ngram needs selfcheck.threshold=NUMBER (a negative "
                    "log-probability): its scale depends on how many samples there are and "
                    "how long they are, so there is no default"
                )
            threshold = DEFAULT_THRESHOLDS[method]
        self.method, self.n_samples, self.threshold = method, samples, float(threshold)
        self.asks_judge = method == "prompt"
        self.min_samples = 1 + samples
        settings: dict[str, Any] = {
            "method": method,
            "samples": samples,
            "threshold": self.threshold,
        }
        self._bertscore: Any = None
        self._nli: Any = None
        self._client: Any = None
        if method == "bertscore":
            from harness.metrics._bertscore import BertScoreModel

            self._bertscore = BertScoreModel(
                model,
                num_layers,
                rescale_with_baseline=rescale_with_baseline,
                baseline_path=baseline_path,
                batch_size=batch_size,
                device=device,
                bf16=bf16,
                threads=threads,
            )
            settings.update(self._bertscore.settings())
        elif method == "ngram":
            if not isinstance(ngram_n, int) or ngram_n < 1:
                raise ConfigError(f"selfcheck.ngram_n must be at least 1, not {ngram_n!r}")
            if ngram_score not in ("max", "avg"):
                raise ConfigError(f"selfcheck.ngram_score must be max or avg, not {ngram_score!r}")
            if ngram_k < 0:
                raise ConfigError(f"selfcheck.ngram_k must be 0 or more, not {ngram_k}")
            self.ngram_n, self.ngram_score, self.ngram_k = ngram_n, ngram_score, float(ngram_k)
            settings.update(ngram_n=ngram_n, ngram_score=ngram_score, ngram_k=self.ngram_k)
        elif method == "nli":
            if model is None:
                raise ConfigError(
                    "selfcheck.method=nli needs a local NLI model: "
                    "--scorer-option selfcheck.model=/path/to/nli-model"
                )
            from harness.scorers.hallucination.nli_model import NLIModel

            self._nli = NLIModel(
                model,
                labels=labels,
                batch_size=batch_size,
                device=device,
                threads=threads,
                option="selfcheck",
            )
            settings.update(self._nli.settings())
        else:
            from harness.scorers.hallucination.judging import JudgeClient

            self._client = JudgeClient(
                "selfcheck",
                ("local",) if judges is None else judges,
                repeats=repeats,
                temperature=temperature,
                seed=seed,
                max_tokens=max_tokens,
                concurrency=concurrency,
                timeout=timeout,
                max_retries=max_retries,
                api_key_env=api_key_env,
                adapter_options=adapter_options,
                cache_db=cache_db,
                cache=cache,
            )
            settings.update(self._client.settings())
        super().__init__(**settings)

    def metric_range(self, metric: str) -> tuple[float, float] | None:
        """Shares and probabilities (prompt, nli) lie in [0, 1]; 1 - BERTScore and negative
        log-probabilities (bertscore, ngram) are only bounded below."""
        if metric != self.primary:
            return None
        return (0.0, 1.0) if self.method in ("prompt", "nli") else (0.0, math.inf)

    def start(self) -> None:
        """Start the judge adapters of method=prompt (before the run writes anything)."""
        if self._client is not None:
            self._client.start()

    def close(self) -> None:
        """Stop the judge adapters of method=prompt (also done at exit)."""
        if self._client is not None:
            self._client.close()

    # scoring ---------------------------------------------------------------------------

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        records: list[ScoreRecord | None] = []
        work: list[tuple[int, _Work]] = []
        for example in batch:
            numbers = example.sample_numbers or tuple(range(len(example.samples)))
            others = list(zip(numbers, example.samples, strict=True))[1:]  # 0 is the main one
            usable = [(n, text) for n, text in others if word_tokens(text)][: self.n_samples]
            if len(usable) < self.n_samples:
                empty = [str(n) for n, text in others if not word_tokens(text)]
                why = (
                    f"selfcheck.samples={self.n_samples} needs {self.n_samples} answered, "
                    f"non-empty samples besides the main response (--samples "
                    f"{self.min_samples}); this item has {len(usable)}"
                )
                if empty:
                    why += f" (empty: sample {', '.join(empty)})"
                records.append(self._unscored(example, why))
                continue
            main = sentences(example.response)
            if not main:
                records.append(self._unscored(example, "the response is empty"))
                continue
            extra, used = [text for _, text in usable], [n for n, _ in usable]
            work.append((len(records), _Work(example, main, extra, used)))
            records.append(None)
        items = [w for _, w in work]
        if items:
            getattr(self, f"_score_{self.method}")(items)
        for position, item in work:
            records[position] = self._record(item)
        return [r for r in records if r is not None]

    def _unscored(self, example: Example, why: str) -> ScoreRecord:
        details = {"method": self.method, "error": why}
        return ScoreRecord(example.item.id, example.sample, self.primary, None, None, details)

    def _record(self, item: _Work) -> ScoreRecord:
        scored = [s for s in item.scores if s is not None]
        value = sum(scored) / len(scored) if scored and len(scored) == len(item.scores) else None
        sentence_rows = []
        for j, text in enumerate(item.main):
            row: dict[str, Any] = {"text": text, "score": item.scores[j]}
            if item.per_sample:
                row["per_sample"] = item.per_sample[j]
            sentence_rows.append(row)
        details: dict[str, Any] = {
            "method": self.method,
            "samples_used": len(item.extra),
            "sample_numbers": item.numbers,
            "sentences": sentence_rows,
            **item.details,
        }
        if value is None:
            details["error"] = "a sentence has no readable verdict from any sample"
        example = item.example
        return ScoreRecord(
            example.item.id, example.sample, self.primary, value, self.label(value), details
        )

    def _score_bertscore(self, items: list[_Work]) -> None:
        """Every (sentence, sample) pair of the batch in one BertScoreModel call."""
        predictions: list[str] = []
        groups: list[list[str]] = []
        for item in items:
            split = [sample_sentences(s) for s in item.extra]
            for sentence in item.main:
                for group in split:
                    predictions.append(sentence)
                    groups.append(group)
        f1 = iter(self._bertscore.score(predictions, groups).f1)
        for item in items:
            for _ in item.main:
                # F1 <= 1 (rescaled too); float error can put it 1e-7 above, never below 0
                values = [max(0.0, 1.0 - next(f1)) for _ in item.extra]
                item.per_sample.append([round(v, 6) for v in values])
                item.scores.append(sum(values) / len(values))

    def _score_ngram(self, items: list[_Work]) -> None:
        from harness.scorers.hallucination.ngram import ngram_scores

        for item in items:
            result = ngram_scores(
                item.main, item.example.response, item.extra, self.ngram_n, self.ngram_k
            )
            chosen = result.max if self.ngram_score == "max" else result.avg
            item.scores.extend(chosen)
            item.details["avg_neg_logprob"] = result.avg
            item.details["max_neg_logprob"] = result.max
            item.details["passage_avg_neg_logprob"] = result.passage_avg
            item.details["passage_avg_max_neg_logprob"] = result.passage_avg_max

    def _score_nli(self, items: list[_Work]) -> None:
        premises = [s for item in items for _ in item.main for s in item.extra]
        hypotheses = [t for item in items for t in item.main for _ in item.extra]
        probs = iter(self._nli.predict(premises, hypotheses))
        for item in items:
            for _ in item.main:
                values = []
                for _ in item.extra:
                    p = next(probs)
                    if p.contradiction is None:
                        values.append(1.0 - p.entailment)
                    else:
                        both = p.entailment + p.contradiction
                        values.append(p.contradiction / both if both > 0 else 0.5)
                item.per_sample.append([round(v, 6) for v in values])
                item.scores.append(sum(values) / len(values))

    def _score_prompt(self, items: list[_Work]) -> None:
        from harness.scorers.hallucination.judging import (
            YES_NO,
            parse_yes_no,
            reply_text,
            unreadable,
        )

        client = self._client
        calls = []
        for item in items:
            for sentence in item.main:
                for sample in item.extra:
                    messages = client.prompts.messages(
                        "selfcheck", context=sample, sentence=sentence
                    )
                    calls.extend(client.calls(messages, item.example.item, YES_NO))
        replies = iter(client.generate(calls))
        per_call = len(client.judges) * client.repeats
        for item in items:
            failures: list[dict[str, Any]] = []
            for j in range(len(item.main)):
                pair_scores: list[float | None] = []
                for n in range(len(item.extra)):
                    verdicts = []
                    for k in range(per_call):
                        response = next(replies)
                        text = reply_text(response)
                        verdict = parse_yes_no(text)
                        if verdict.value is None:
                            failures.append(
                                {
                                    "sentence": j,
                                    "sample": item.numbers[n],
                                    "judge": client.judges[k // client.repeats],
                                    "repeat": k % client.repeats,
                                    "raw": response.text,
                                    "error": unreadable(response, verdict.error),
                                }
                            )
                        else:
                            verdicts.append(0.0 if verdict.value else 1.0)
                    pair_scores.append(sum(verdicts) / len(verdicts) if verdicts else None)
                item.per_sample.append(pair_scores)
                readable = [v for v in pair_scores if v is not None]
                item.scores.append(sum(readable) / len(readable) if readable else None)
            item.details["unreadable"] = failures


__all__ = ["DEFAULT_THRESHOLDS", "METHODS", "SelfCheck"]
