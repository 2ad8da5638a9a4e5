"""Scorers: batches of (item, response) in, score records out."""

from harness.scorers.base import Example, RunMetric, Scorer, ScoreRecord

__all__ = ["Example", "RunMetric", "ScoreRecord", "Scorer"]
