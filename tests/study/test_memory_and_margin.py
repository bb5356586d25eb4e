"""The model's own memory (peak above the bare-process baseline) in the verdict and the memory
section, and the verdict's margin from paired per-round ratios when both sides share rounds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ortkit.report import Scenario
from ortkit.report._performance import memory_section
from ortkit.report._reportdata import Dataset, load_dataset
from ortkit.report._verdict import HEADERS, verdict_section
from ortkit.report._view import View

MIB = 2**20
#: per-round drift shared by every configuration of a round (the machine got busier, then quieter)
DRIFT = (1.0, 1.4, 0.7, 1.2, 0.8, 1.3, 0.9, 1.1)


def _measured(synth, model: str, center_ms: float, rounds: str = "s.0", **metrics: object):  # type: ignore[no-untyped-def]
    result = synth.make_result(model, 1, 256, peak_rss_bytes=90 * MIB, **metrics)
    medians = tuple(center_ms * d for d in DRIFT)
    samples = tuple(m * (1.0 + 0.002 * k) for m in medians for k in (-1, 0, 1))
    return dataclasses.replace(result, samples_ms=samples, metrics=dataclasses.replace(
        result.metrics, round_p50_ms=medians, round_ids=tuple(f"{rounds}:{i}" for i in range(len(DRIFT)))))


def _verdict(dataset: Dataset, **fields: object) -> dict[str, str]:
    scenario = Scenario(name="s", task="seq-digits", kind="edge", length=256, **fields)  # type: ignore[arg-type]
    section = verdict_section(View(dataset, figures=False), (scenario,))
    (row,) = section.tables[0].rows
    return dict(zip(HEADERS, row))


def test_margin_is_paired_when_both_sides_were_measured_in_the_same_rounds(tmp_path: Path, synth) -> None:  # type: ignore[no-untyped-def]
    # tcn costs 1.05x gru in every round; the rounds themselves drift by -30% to +40%
    shared = load_dataset(synth.build_db(tmp_path / "paired.db", [_measured(synth, "gru", 2.0), _measured(synth, "tcn", 2.1)]))
    row = _verdict(shared, memory_mib=1000.0, p99_ms=100.0, accuracy_slack=0.5)
    assert row["deploy"] == "gru" and row["margin over the other family"].startswith("1.05x (95% CI 1.05 to 1.05, paired over 8 rounds)")
    # the same samples from different sessions: only the two-sample bootstrap is left, and the drift swamps 5%
    apart = load_dataset(synth.build_db(tmp_path / "apart.db", [_measured(synth, "gru", 2.0), _measured(synth, "tcn", 2.1, rounds="t.0")]))
    text = _verdict(apart, memory_mib=1000.0, p99_ms=100.0, accuracy_slack=0.5)["margin over the other family"]
    assert "two-sample bootstrap" in text and "cannot separate them" in text


def test_edge_budget_and_verdict_use_the_models_own_memory(tmp_path: Path, synth) -> None:  # type: ignore[no-untyped-def]
    results = [synth.make_result("gru", 1, 256, peak_rss_bytes=100 * MIB, baseline_rss_bytes=80 * MIB),
               synth.make_result("tcn", 1, 256, peak_rss_bytes=140 * MIB, baseline_rss_bytes=80 * MIB)]
    dataset = load_dataset(synth.build_db(tmp_path / "own.db", results))
    row = _verdict(dataset, memory_mib=30.0, p99_ms=100.0)
    assert row["deploy"] == "gru" and row["model memory"] == "20.0 MiB" and row["process peak"] == "100.0 MiB"
    assert row["margin over the other family"] == "-"  # tcn's 60 MiB of its own is over the 30 MiB budget
    # stored without a baseline: the whole process's peak is all there is, and it is over the budget
    old = load_dataset(synth.build_db(tmp_path / "old.db", [synth.make_result("gru", 1, 256, peak_rss_bytes=100 * MIB)]))
    row = _verdict(old, memory_mib=30.0, p99_ms=100.0)
    assert row["deploy"] == "none" and "100.0 MiB (whole-process peak)" in row["why"]
    assert _verdict(old, memory_mib=200.0, p99_ms=100.0)["model memory"] == "n/a (no baseline; process peak 100.0 MiB)"


def test_memory_section_shows_the_models_own_memory_and_keeps_the_process_peak(tmp_path: Path, synth) -> None:  # type: ignore[no-untyped-def]
    results = [synth.make_result("gru", 1, t, peak_rss_bytes=(80 + t // 64) * MIB, baseline_rss_bytes=80 * MIB) for t in (64, 1024)]
    section = memory_section(View(load_dataset(synth.build_db(tmp_path / "m.db", results)), figures=False))
    assert "above the bare-process baseline" in section.figures[0].caption
    assert section.findings == ["On cpu at batch 1, gru takes 1.0 MiB (model memory (peak above bare process)) at T = 64 and 16.0 MiB at T = 1024."]
    header, rows = section.tables[0].headers, section.tables[0].rows
    assert dict(zip(header, rows[-1])) == {"target": "cpu", "batch": "1", "model": "gru", "T": "1024", "model memory": "16.0 MiB",
                                           "whole-process peak": "96.0 MiB", "bare-process baseline": "80.0 MiB"}
    old = [synth.make_result("gru", 1, t, peak_rss_bytes=(80 + t // 64) * MIB) for t in (64, 1024)]
    section = memory_section(View(load_dataset(synth.build_db(tmp_path / "old.db", old)), figures=False))
    assert "no bare-process baseline" in section.figures[0].caption and "whole-process peak RSS" in section.findings[0]
