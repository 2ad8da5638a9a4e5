"""Human review: export items for reviewers, import their labels, measure agreement."""

from __future__ import annotations

from harness.review.agreement_report import has_labels, human_agreement
from harness.review.export import FORMATS, ExportOptions, ExportResult, export_run
from harness.review.human_scores import HUMAN_SCORER, human_signature, write_human_scores
from harness.review.labels import ImportResult, import_labels
from harness.review.sample import STRATEGIES, Selection, select
from harness.review.scale import Scale, parse_options, parse_spec

__all__ = [
    "FORMATS",
    "HUMAN_SCORER",
    "STRATEGIES",
    "ExportOptions",
    "ExportResult",
    "ImportResult",
    "Scale",
    "Selection",
    "export_run",
    "has_labels",
    "human_agreement",
    "human_signature",
    "import_labels",
    "parse_options",
    "parse_spec",
    "select",
    "write_human_scores",
]
