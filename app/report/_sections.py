"""The report's sections in reading order; each is computed from the measured rows, and the
sentences under "Findings" are formatted from numbers computed there."""

from __future__ import annotations

from ortkit.report._comparisons import precision_section, torch_section
from ortkit.report._fleet import fleet_section
from ortkit.report._context import environment_section, ops_section, placement_section, problems_section
from ortkit.report._performance import (
    crossover_section,
    latency_section,
    memory_section,
    pareto_section,
    streaming_section,
    throughput_section,
)
from ortkit.report._tuning import tuning_section
from ortkit.report._view import View, slug

__all__ = ["SECTIONS", "View", "slug"]

SECTIONS = (crossover_section, latency_section, throughput_section, streaming_section, memory_section, pareto_section,
            precision_section, torch_section, tuning_section, fleet_section, ops_section, placement_section, problems_section, environment_section)
