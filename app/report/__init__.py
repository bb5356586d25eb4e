"""Reports and comparisons from a results database: Markdown, one self-contained HTML file, and
`compare` with confidence intervals. Application layer: reads the store through the profiler's
public names."""

from __future__ import annotations

from ortkit.report._claims import CLAIMS_FILE, ClaimRun, load_claims, save_claims
from ortkit.report._compare import REGRESSION_EXIT_CODE, compare, print_comparison
from ortkit.report._report import STUDY_FILE, ReportPaths, build_report, load_scenarios, render_html, report_database, write_report
from ortkit.report._reportdata import Accuracy, Dataset, Row, load_dataset, most_common, record_accuracy
from ortkit.report._roofline import CEILING_FILE, Ceiling, load_ceilings, save_ceilings
from ortkit.report._scenarios import SCENARIO_KINDS, Scenario, ScenarioError, scenario_from_dict
from ortkit.report._verdict import Margin, margin, paired_margin

__all__ = [
    "Accuracy",
    "CEILING_FILE",
    "CLAIMS_FILE",
    "Ceiling",
    "ClaimRun",
    "Dataset",
    "Margin",
    "REGRESSION_EXIT_CODE",
    "ReportPaths",
    "Row",
    "SCENARIO_KINDS",
    "STUDY_FILE",
    "Scenario",
    "ScenarioError",
    "build_report",
    "compare",
    "load_ceilings",
    "load_claims",
    "load_dataset",
    "load_scenarios",
    "margin",
    "most_common",
    "paired_margin",
    "print_comparison",
    "record_accuracy",
    "render_html",
    "report_database",
    "save_ceilings",
    "save_claims",
    "scenario_from_dict",
    "write_report",
]
