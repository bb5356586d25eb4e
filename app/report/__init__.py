"""Reports and comparisons from a results database: Markdown, one self-contained HTML file, and
`compare` with confidence intervals. Application layer: reads the store through the profiler's
public names."""

from __future__ import annotations

from ortkit.report._compare import REGRESSION_EXIT_CODE, compare, print_comparison
from ortkit.report._report import ReportPaths, build_report, render_html, report_database, write_report
from ortkit.report._reportdata import Accuracy, Dataset, Row, load_dataset, most_common, record_accuracy

__all__ = [
    "Accuracy",
    "Dataset",
    "REGRESSION_EXIT_CODE",
    "ReportPaths",
    "Row",
    "build_report",
    "compare",
    "load_dataset",
    "most_common",
    "print_comparison",
    "record_accuracy",
    "render_html",
    "report_database",
    "write_report",
]
