"""LLM-as-judge: rubrics, judge prompts, verdict parsing, judge calls, consistency figures.

- `rubric`: YAML rubrics (pydantic) with a hash.
- `prompt`: judge prompts with the graded text fenced against injection.
- `verdict`: JSON-schema requests, robust parsing, logprob-weighted scores.
- `runner`: judge adapters on a background event loop, inside the managed wrapper.
- `pairwise`: two responses per item, judged in both orders.
- `consistency`: stability, inter-judge and judge-human agreement, position and
  verbosity bias, with bootstrap intervals.

The pointwise scorer is `harness.scorers.judge.JudgeScorer` (`--scorers judge:RUBRIC`).
"""

from harness.judge.rubric import Rubric, Scale, ScalePoint, available_rubrics, load_rubric

__all__ = ["Rubric", "Scale", "ScalePoint", "available_rubrics", "load_rubric"]
