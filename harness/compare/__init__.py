"""Compare runs with paired statistics, slices and fairness gaps, and a CI quality gate."""

from harness.compare.analysis import ComparisonReport, Settings, compare_runs
from harness.compare.gate import GateResult, run_gate

__all__ = ["ComparisonReport", "GateResult", "Settings", "compare_runs", "run_gate"]
