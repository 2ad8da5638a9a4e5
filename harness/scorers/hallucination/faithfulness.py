"""`faithfulness`: the share of a response's claims that its context supports (judged).

For RAG answers and summaries. In two steps, as RAGAS-style faithfulness: a judge breaks
the response into self-contained factual claims, then checks each claim against the
context (one call per claim: supported yes/no). The value is supported / total claims.
Each judge and repeat is one independent pass (extraction and checks); the item's value is
the mean over judges of each judge's mean over its readable passes. A pass whose claims
list or any of whose verdicts cannot be read has no value (its raw replies are kept in the
details), never a number; a response with no factual claim has none either.

The context is the item's context (`source=context`), its references (`source=reference`),
or the context where an item has one and the references otherwise (`source=auto`). A
response is labelled `hallucination` when its faithfulness is below `threshold`
(default 1: any unsupported claim).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.errors import ConfigError
from harness.judge.runner import JudgeCall
from harness.scorers.base import Example, ScoreRecord
from harness.scorers.hallucination.aggregate import RATE, HallucinationScorer
from harness.scorers.hallucination.grounding import (
    grounding,
    missing,
    reference_instead,
    source_requires,
)
from harness.scorers.hallucination.judging import (
    CLAIMS,
    VERDICT,
    JudgeClient,
    parse_claims,
    parse_yes_no,
    reply_text,
    unreadable,
)


@dataclass(slots=True)
class _Pass:
    """One judge's extraction and checks for one response (one repeat)."""

    judge: str
    repeat: int
    claims: list[str] | None = None
    dropped: int = 0
    repeated: int = 0
    raw: str | None = None
    error: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)

    def value(self) -> float | None:
        if self.claims is None or not self.claims or self.error is not None:
            return None
        if any(c["supported"] is None for c in self.checks):
            return None
        return sum(1 for c in self.checks if c["supported"]) / len(self.checks)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"judge": self.judge, "repeat": self.repeat, "score": self.value()}
        if self.claims is None:
            out.update(raw=self.raw, error=self.error)
            return out
        out["claims"] = self.checks
        if self.dropped:
            out["claims_dropped"] = self.dropped
        if self.repeated:
            out["claims_repeated"] = self.repeated
        if not self.claims:
            out["error"] = "the response makes no factual claim"
        elif any(c["supported"] is None for c in self.checks):
            out["error"] = "a claim's verdict could not be read"
        return out


class Faithfulness(HallucinationScorer):
    """Supported claims / claims, checked by a judge against the context (higher is better).

    Options: source (context, reference, auto), threshold, max_claims, and the judge
    options (judges, repeats, temperature, seed, max_tokens, concurrency, timeout,
    max_retries, api_key_env, adapter_options, cache_db, cache) as for the judge scorer.
    """

    name = "faithfulness"
    version = "2"  # 2: self-contradicting yes/no replies are unreadable
    uses_judge: ClassVar[bool] = True
    primary: ClassVar[str] = "faithfulness"
    higher_is_worse: ClassVar[bool] = False
    lower_is_better: ClassVar[frozenset[str]] = frozenset({RATE})
    value_range: ClassVar[dict[str, tuple[float, float]]] = {"faithfulness": (0.0, 1.0)}

    def __init__(
        self,
        source: str = "context",
        threshold: float = 1.0,
        max_claims: int = 32,
        judges: Sequence[str] | str = ("local",),
        repeats: int = 1,
        temperature: float = 0.0,
        seed: int | None = None,
        max_tokens: int = 512,
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 3,
        api_key_env: str = "OPENAI_API_KEY",
        adapter_options: dict[str, Any] | None = None,
        cache_db: str | None = None,
        cache: bool = True,
    ) -> None:
        requires = source_requires("faithfulness", source)
        if max_claims < 1:
            raise ConfigError(f"faithfulness.max_claims must be at least 1, not {max_claims}")
        self.source, self.threshold, self.max_claims = source, float(threshold), max_claims
        self.client = JudgeClient(
            "faithfulness",
            judges,
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
        super().__init__(
            source=source,
            threshold=self.threshold,
            max_claims=max_claims,
            **self.client.settings(),
        )
        setattr(self, "requires", requires)  # noqa: B010  (per instance: it follows `source`)

    def instead_of(self, need: str) -> str | None:
        return reference_instead(self.name, need)

    def start(self) -> None:
        """Start the judge adapters (before the run writes anything)."""
        self.client.start()

    def close(self) -> None:
        """Stop the judge adapters (also done at exit)."""
        self.client.close()

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        client = self.client
        ready: list[tuple[int, Example, str, str, list[_Pass]]] = []
        records: dict[int, ScoreRecord] = {}
        extraction: list[JudgeCall] = []
        for position, example in enumerate(batch):
            context, which = grounding(example.item, self.source)
            if context is None or which is None:
                records[position] = self._unscored(example, missing(self.source))
                continue
            if not example.response.strip():
                records[position] = self._unscored(example, "the response is empty")
                continue
            messages = client.prompts.messages(
                "claims", input=example.item.input, response=example.response
            )
            calls = client.calls(messages, example.item, CLAIMS)
            passes = [_Pass(c.judge, c.request.sample) for c in calls]
            extraction.extend(calls)
            ready.append((position, example, context, which, passes))
        replies = iter(client.generate(extraction))
        checks: list[JudgeCall] = []
        for _, example, context, _, passes in ready:
            for one in passes:
                response = next(replies)
                claims, error = parse_claims(reply_text(response))
                if claims is None:
                    one.raw, one.error = response.text, unreadable(response, error)
                    continue
                firsts: dict[str, str] = {}
                for claim in claims:
                    firsts.setdefault(" ".join(claim.casefold().split()), claim)
                distinct = list(firsts.values())
                one.repeated = len(claims) - len(distinct)
                one.claims, one.dropped = (
                    distinct[: self.max_claims],
                    max(0, len(distinct) - self.max_claims),
                )
                for claim in one.claims:
                    messages = client.prompts.messages("verify", context=context, claim=claim)
                    checks.append(
                        client.call(one.judge, one.repeat, messages, example.item, VERDICT)
                    )
        verdicts = iter(client.generate(checks))
        for _, _, _, _, passes in ready:
            for one in passes:
                for claim in one.claims or []:
                    response = next(verdicts)
                    verdict = parse_yes_no(reply_text(response))
                    check: dict[str, Any] = {"claim": claim, "supported": verdict.value}
                    if verdict.reasoning:
                        check["reasoning"] = verdict.reasoning
                    if verdict.value is None:
                        check.update(raw=response.text, error=unreadable(response, verdict.error))
                    one.checks.append(check)
        for position, example, _, which, passes in ready:
            records[position] = self._record(example, which, passes)
        return [records[p] for p in range(len(batch))]

    def _unscored(self, example: Example, why: str) -> ScoreRecord:
        details = {"source": self.source, "error": why}
        return ScoreRecord(example.item.id, example.sample, self.primary, None, None, details)

    def _record(self, example: Example, which: str, passes: list[_Pass]) -> ScoreRecord:
        per_judge: dict[str, Any] = {}
        means = []
        for judge in self.client.judges:
            values = [p.value() for p in passes if p.judge == judge]
            readable = [v for v in values if v is not None]
            mean = sum(readable) / len(readable) if readable else None
            if mean is not None:
                means.append(mean)
            per_judge[judge] = {"score": mean, "scores": values}
        value = sum(means) / len(means) if means else None
        details: dict[str, Any] = {
            "source": which,
            "judges": per_judge,
            "passes": [p.to_dict() for p in passes],
        }
        return ScoreRecord(
            example.item.id, example.sample, self.primary, value, self.label(value), details
        )


__all__ = ["Faithfulness"]
