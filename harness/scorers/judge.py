"""`judge:RUBRIC`: an LLM judge grades each response on a rubric's scale.

Any adapter can judge (`judges=["openai:gpt-4o", "local"]`), each `repeats` times per
response. The item's value is the mean over judges of each judge's mean over its parsed
verdicts (None when no verdict parsed: unscored, never 0); on a nominal scale, whose
categories have no mean, it is the most common verdict (None on a tie). The details keep
each judge's scores; every verdict (judge, repeat, score, raw text, reasoning, temperature, seed,
rubric hash) goes into the `judgments` table with the score, for `harness judge-report`.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from harness.adapters.base import GenerationParams, Request, Response
from harness.errors import ConfigError
from harness.judge.prompt import pointwise_messages
from harness.judge.rubric import Rubric, load_rubric
from harness.judge.runner import JudgeCall, JudgeRunner
from harness.judge.verdict import Verdict, parse_verdict, response_format, weighted_score
from harness.scorers.base import Example, RunMetric, Scorer, ScoreRecord
from harness.store.db import now

TOP_LOGPROBS = 5
NOMINAL_SIGNATURE = "nominal"
"""`scale:nominal` in the signature of a judge with a nominal rubric: compare skips it."""


class JudgeScorer(Scorer):
    """Grades responses with one or more LLM judges on a YAML rubric."""

    name = "judge"
    version = "1"
    argument: ClassVar[str] = "rubric"
    """`--scorers judge:correctness` passes `rubric="correctness"`."""
    uses_judge: ClassVar[bool] = True
    """Receives the run's `--judge`, `--judge-repeats`, ... options."""

    def __init__(
        self,
        rubric: str = "",
        judges: Sequence[str] | str = ("local",),
        repeats: int = 1,
        temperature: float = 0.0,
        seed: int | None = None,
        max_tokens: int = 400,
        score_from: str = "verdict",
        logprobs: bool = True,
        reasoning_chars: int | None = None,
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 3,
        api_key_env: str = "OPENAI_API_KEY",
        adapter_options: dict[str, Any] | None = None,
        cache_db: str | None = None,
        cache: bool = True,
    ) -> None:
        if not rubric:
            raise ConfigError("name a rubric: --scorers judge:correctness (or judge:PATH.yaml)")
        if isinstance(judges, str):
            judges = [part.strip() for part in judges.split(",") if part.strip()]
        if repeats < 1:
            raise ConfigError(f"judge repeats must be at least 1, not {repeats}")
        if score_from not in ("verdict", "logprobs"):
            raise ConfigError(f"score_from must be 'verdict' or 'logprobs', not {score_from!r}")
        self.rubric: Rubric = load_rubric(rubric)
        nominal = self.rubric.scale.kind == "nominal"
        if nominal and score_from == "logprobs":
            raise ConfigError(
                f"rubric '{self.rubric.name}' is nominal: score_from=logprobs weighs scale "
                "points by their numbers, which categories do not have; use score_from=verdict"
            )
        self.judges = list(judges)
        self.repeats = repeats
        self.params = GenerationParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
        self.score_from = score_from
        self.logprobs = logprobs or score_from == "logprobs"
        self.reasoning_chars = reasoning_chars
        self.runner = JudgeRunner(
            self.judges,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
            api_key_env=api_key_env,
            adapter_options=adapter_options,
            cache_path=cache_db,
            read_cache=cache,
        )
        super().__init__(
            rubric=self.rubric.name,
            rubric_hash=self.rubric.hash,
            judges=",".join(self.judges),
            repeats=repeats,
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
            score_from=score_from,
            **({"reasoning_chars": reasoning_chars} if reasoning_chars is not None else {}),
            **({"scale": NOMINAL_SIGNATURE} if nominal else {}),
        )
        # per-instance name and needs: `judge:correctness` needs a reference
        setattr(self, "name", f"judge:{self.rubric.name}")  # noqa: B010
        setattr(self, "requires", self.rubric.requires)  # noqa: B010
        self._finalizer = weakref.finalize(self, self.runner.close)

    def aggregate(self, records: Sequence[ScoreRecord]) -> list[RunMetric]:
        """The mean verdict with its CI; for a nominal rubric, whose categories have no mean,
        the share of items given each category instead. An item with several samples counts
        once, at the share of its samples given the category (Wilson's CI where every item
        is all or nothing, else Student's t cut to 0-1)."""
        if self.rubric.scale.kind != "nominal":
            return super().aggregate(records)
        from harness.stats import mean_ci

        per_item: dict[str, list[float]] = {}
        unscored = 0
        for r in records:
            if r.metric != self.rubric.name:
                continue
            if r.value is None:
                unscored += 1
            else:
                per_item.setdefault(r.item_id, []).append(r.value)
        metrics = [
            RunMetric(
                self.rubric.name,
                None,
                n=len(per_item),
                details={"unscored": unscored, "nominal": "see the shares"},
            )
        ]
        for point in self.rubric.scale.points:
            shares = [sum(v == point.score for v in item) / len(item) for item in per_item.values()]
            share, low, high = mean_ci(shares, bounds=(0.0, 1.0))
            metrics.append(RunMetric(f"{self.rubric.name}={point.token}", share, low, high,
                                     n=len(shares)))  # fmt: skip
        return metrics

    def metric_range(self, metric: str) -> tuple[float, float] | None:
        """The rubric's scale: every verdict, mean of verdicts or weighted score lies in it."""
        if metric != self.rubric.name or self.rubric.scale.kind == "nominal":
            return None
        scores = self.rubric.scale.scores
        return (min(scores), max(scores))

    def start(self) -> None:
        """Start the judge adapters now (the run calls this before it writes anything), so
        an unreachable judge stops the run at once, not at its first scored batch."""
        self.runner.start()

    def close(self) -> None:
        """Stop the judge adapters (also done at exit)."""
        self._finalizer()

    def requests(self, example: Example, judge: str) -> list[Request]:
        """The `repeats` requests one judge gets for one response."""
        capabilities = self.runner.capabilities(judge)
        messages = pointwise_messages(self.rubric, example.item, example.response)
        fmt = (
            response_format(self.rubric, self.reasoning_chars) if capabilities.json_schema else None
        )
        top = TOP_LOGPROBS if self.logprobs and self.runner.wants_logprobs(judge) else None
        return [
            Request(
                messages=messages,
                params=self.params,
                sample=repeat,
                item=example.item,
                response_format=fmt,
                top_logprobs=top,
            )
            for repeat in range(self.repeats)
        ]

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        calls = [
            JudgeCall(judge, request)
            for example in batch
            for judge in self.judges
            for request in self.requests(example, judge)
        ]
        responses = iter(self.runner.generate(calls))
        records = []
        for example in batch:
            verdicts = {
                judge: [self._verdict(next(responses)) for _ in range(self.repeats)]
                for judge in self.judges
            }
            records.append(self._record(example, verdicts))
        return records

    def _verdict(self, response: Response) -> tuple[Verdict, Response]:
        if response.error is not None:
            return Verdict(None, None, None, False, response.error), response
        verdict = parse_verdict(response.text, self.rubric)
        if verdict.parsed_ok:
            verdict.weighted_score = weighted_score(response.extra.get("logprobs"), self.rubric)
        return verdict, response

    def _value(self, verdict: Verdict) -> float | None:
        if self.score_from == "logprobs" and verdict.weighted_score is not None:
            return verdict.weighted_score
        return verdict.score

    def _record(
        self, example: Example, verdicts: dict[str, list[tuple[Verdict, Response]]]
    ) -> ScoreRecord:
        stamp = now()
        per_judge: dict[str, Any] = {}
        judgments = []
        judge_means = []
        spreads: list[float] = []
        pooled: list[float] = []
        for judge, results in verdicts.items():
            values = [self._value(v) for v, _ in results]
            parsed = [v for v in values if v is not None]
            pooled.extend(parsed)
            mean = self._combine(parsed)
            if mean is not None:
                judge_means.append(mean)
            spread = max(parsed) - min(parsed) if parsed else None
            per_judge[judge] = {"score": mean, "scores": values, "spread": spread}
            if spread is not None:
                spreads.append(spread)
            for repeat, (verdict, response) in enumerate(results):
                seed = self.params.seed
                judgments.append(
                    {
                        "judge": judge,
                        "rubric": self.rubric.name,
                        "rubric_hash": self.rubric.hash,
                        "repeat": repeat,
                        "position_order": "single",
                        "score": verdict.score,
                        "weighted_score": verdict.weighted_score,
                        "label": verdict.label,
                        "raw": response.text,
                        "reasoning": verdict.reasoning,
                        "parsed_ok": verdict.parsed_ok,
                        "error": verdict.error,
                        "temperature": self.params.temperature,
                        "seed": seed + repeat if seed is not None else None,
                        "created_at": stamp,
                    }
                )
        nominal = self.rubric.scale.kind == "nominal"
        value = self._combine(pooled) if nominal else self._combine(judge_means)
        label = None
        if value is not None and not self.rubric.scale.numeric:
            point = next((p for p in self.rubric.scale.points if p.score == value), None)
            label = point.token if point is not None else None
        details = {
            "rubric": self.rubric.name,
            "rubric_hash": self.rubric.hash,
            "scale": self.rubric.scale.scores,
            "scale_kind": self.rubric.scale.kind,
            "judges": per_judge,
            "spread": max(spreads) if spreads else None,
            "unscored": sum(1 for j in judgments if not j["parsed_ok"]),
            "judgments": judgments,
        }
        if nominal and value is None and pooled:
            details["error"] = "the verdicts split evenly between categories: no majority"
        return ScoreRecord(example.item.id, example.sample, self.rubric.name, value, label, details)

    def _combine(self, values: list[float]) -> float | None:
        """Several verdicts as one: their mean on an ordinal or binary scale; on a nominal
        scale (categories, not amounts) the most common one, or None on a tie."""
        if not values:
            return None
        if self.rubric.scale.kind != "nominal":
            return sum(values) / len(values)
        (top, count), *rest = Counter(values).most_common()
        return None if rest and rest[0][1] == count else top
