"""The crossover marked on the latency curve (or said to be unresolved), and the accuracy/latency
front drawn at each task's own length, on the synthetic results of conftest.py (tcn crosses lstm
at T = 1600 and gru at T = 2500)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ortkit.report import _plots
from ortkit.report._performance import latency_section, pareto_section
from ortkit.report._reportdata import Accuracy, Dataset, load_dataset, record_accuracy
from ortkit.report._view import View

pytest.importorskip("matplotlib")


def _marks(fig) -> dict[str, list[tuple[float, str]]]:  # type: ignore[no-untyped-def]
    """Per panel title: (x, legend label) of every X marker drawn."""
    return {ax.get_title(): [(float(line.get_xdata()[0]), line.get_label()) for line in ax.get_lines() if line.get_marker() == "X"]
            for ax in fig.axes if ax.get_visible()}


def test_crossovers_are_marked_on_the_latency_curve(synthetic: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    figures: list[object] = []
    monkeypatch.setattr(_plots, "OVERLAP_HOOK", lambda fig, pairs: figures.append((fig, pairs)))
    section = latency_section(View(synthetic))
    (fig, overlaps), = figures
    assert overlaps == []
    marks = _marks(fig)["batch 1"]
    by_pair = {label.split(":")[0]: x for x, label in marks}
    assert by_pair["tcn x lstm"] == pytest.approx(1600, rel=0.02) and by_pair["tcn x gru"] == pytest.approx(2500, rel=0.02)
    # the CI of each crossover is a shaded span around its marker
    spans = [patch for patch in fig.axes[0].patches]
    assert len(spans) == 2 and all(p.get_alpha() == pytest.approx(0.12) for p in spans)
    caption = section.figures[0].caption
    assert "tcn x lstm at batch 1: T ~ 1600 (95% CI" in caption and "marked X" in caption


def test_an_unresolved_crossover_is_said_in_the_caption(tmp_path: Path, synth) -> None:  # type: ignore[no-untyped-def]
    # tcn 1.6x slower: its ratio to lstm falls to 1.0 at T = 4096, where wide noise leaves the CI across 1
    results = [synth.make_result(model, 1, t, factor=1.6 if model == "tcn" else 1.0, noise=0.3) for model in ("lstm", "tcn")
               for t in (256, 1024, 4096)]
    section = latency_section(View(load_dataset(synth.build_db(tmp_path / "r.db", results)), figures=False))
    assert "tcn x lstm at batch 1: not resolved (the ratio's CI spans 1 between T = 4096 and 4096)" in section.figures[0].caption


def _accuracies(length: int | None) -> list[Accuracy]:
    out = []
    for model, value in (("lstm", 0.97), ("gru", 0.965), ("tcn", 0.96)):
        sha = hashlib.sha256(model.encode()).hexdigest()
        out.append(Accuracy(sha, model, "seq-digits", "accuracy", True, value, "fp32", length))
    return out


@pytest.mark.parametrize(("length", "time", "why"), [
    (64, 64, "at the task's own length T = 64, batch 1"),
    (200, 256, "at T = 256, the measured length nearest the task's own T = 200, batch 1"),
    (None, 4096, "the shape with the most files (the task's own length is not recorded"),
])
def test_the_front_is_drawn_at_the_tasks_own_length(tmp_path: Path, synth, length: int | None, time: int, why: str) -> None:  # type: ignore[no-untyped-def]
    db = synth.build_db(tmp_path / "r.db", accuracy=False)
    record_accuracy(db, _accuracies(length))
    section = pareto_section(View(load_dataset(db), figures=False))
    assert why in section.figures[0].caption
    assert {row[1] for row in section.tables[0].rows} == {str(time)}
    assert {row[2] for row in section.tables[0].rows} == {"lstm", "gru", "tcn"}


def test_the_front_at_the_tasks_length_has_readable_labels(tmp_path: Path, synth, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    found: list[list[tuple[str, str]]] = []
    monkeypatch.setattr(_plots, "OVERLAP_HOOK", lambda fig, pairs: found.append(pairs))
    db = synth.build_db(tmp_path / "r.db", accuracy=False)
    record_accuracy(db, _accuracies(64))
    assert pareto_section(View(load_dataset(db))).figures and found == [[]]
