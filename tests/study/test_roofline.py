"""The roofline: a real GEMM ceiling measured with numpy and onnxruntime, each configuration's
achieved GFLOP/s placed against it, lower-bound FLOP counts left out and said so."""

from __future__ import annotations

from pathlib import Path

import pytest

from ortkit.report import Ceiling, load_ceilings, save_ceilings
from ortkit.report._reportdata import Dataset, load_dataset
from ortkit.report._roofline import bound_of, roofline_section
from ortkit.report._view import View


def test_bounds() -> None:
    assert [bound_of(f) for f in (0.6, 0.5, 0.3, 0.05)] == ["compute-bound", "compute-bound", "memory-bound", "latency-bound"]


def test_the_ceiling_is_measured_for_real() -> None:
    from ortkit.study._ceiling import measure_ceiling

    ceiling = measure_ceiling("k", threads=1, n=256, repeats=2)
    assert ceiling.numpy_gflops > 0.1 and ceiling.ort_gflops > 0.1 and ceiling.peak >= ceiling.ort_gflops


def test_section_places_each_model_against_the_ceiling(tmp_path: Path, synth) -> None:
    results = []
    for model, flops, note in (("lstm", 8_000_000, None), ("tcn", 1_000, "lower bound: some ops were not counted")):
        result = synth.make_result(model, 1, 256, flops=flops, flops_note=note, gflops_s=flops / (synth.LAWS[model](1, 256) * 1e-3) / 1e9)
        results.append(result)
    dataset = load_dataset(synth.build_db(tmp_path / "r.db", results))
    key = dataset.rows[0].environment_key
    save_ceilings(tmp_path / "ceiling.json", [Ceiling(key, 1024, 2, 20.0, 10.0)])
    section = roofline_section(View(dataset, figures=False), load_ceilings(tmp_path / "ceiling.json"))
    (row,) = section.tables[0].rows
    # lstm: 8 MFLOP in 2.56 ms = 3.1 GFLOP/s, 31% of the 10 GFLOP/s onnxruntime ceiling
    assert row[1] == "lstm" and row[3] == "3.12" and row[5] == "memory-bound"
    assert any("tcn" in note and "lower bound" in note for note in section.notes)
    assert roofline_section(View(Dataset([]), figures=False), {}).notes


def test_findings_say_where_each_model_is_bound(tmp_path: Path, synth) -> None:
    # a CNN whose count is exact (no note) is placed like any other: latency-bound at short T, memory-bound at long
    results = [synth.make_result("tcn", 1, t, flops=flops, gflops_s=gflops) for t, flops, gflops in ((16, 10**5, 0.5), (1024, 10**8, 4.0), (4096, 10**9, 4.5))]
    dataset = load_dataset(synth.build_db(tmp_path / "r.db", results))
    ceiling = Ceiling(dataset.rows[0].environment_key, 1024, 2, 20.0, 10.0)
    section = roofline_section(View(dataset, figures=False), {ceiling.environment_key: ceiling})
    assert "On cpu, tcn is latency-bound at b=1 T=16, memory-bound at b=1 T=1024-4096." in section.findings
    assert section.tables[0].rows[0][1] == "tcn" and not section.notes
