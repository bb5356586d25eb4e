"""Figures read at a glance: one colour family per model family, a line style per precision, no
text drawn over other text (checked with matplotlib's own renderer), the verdict's figures there."""

from __future__ import annotations

from pathlib import Path

import pytest

from ortkit.report import Scenario
from ortkit.report import _plots
from ortkit.report._report import write_report
from ortkit.report._reportdata import Dataset

pytest.importorskip("matplotlib")


def test_colour_family_per_model_family_and_style_per_precision() -> None:
    lstm, gru, tcn = (_plots.style_of(name) for name in ("lstm-seq-digits", "gru-seq-digits", "tcn-seq-digits"))
    assert lstm[0] in _plots.FAMILY_SHADES["rnn"] and gru[0] in _plots.FAMILY_SHADES["rnn"] and lstm[0] != gru[0]
    assert tcn[0] in _plots.FAMILY_SHADES["cnn"]
    assert _plots.style_of("lstm-seq-digits int8-dynamic")[0] == lstm[0]
    assert _plots.style_of("lstm-seq-digits int8-dynamic")[1] != lstm[1] != _plots.style_of("lstm-seq-digits fp16")[1]
    assert _plots.style_of("lstm (torch-eager)", "lstm")[1] == ":"


def test_overlapping_labels_are_detected() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "one label")
    ax.text(0.52, 0.5, "another label")
    assert ("one label", "another label") in _plots.text_overlaps(fig)


def test_no_figure_of_the_report_has_overlapping_text(synthetic: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found: list[tuple[str, list[tuple[str, str]]]] = []
    monkeypatch.setattr(_plots, "OVERLAP_HOOK", lambda fig, pairs: found.append((fig.axes[0].get_title() or str(fig.texts), pairs)))
    scenarios = (Scenario("stream", "streaming", "seq-digits", chunk=1, step_ms=1.0), Scenario("batch", "offline", "seq-digits", length=1024))
    paths = write_report(synthetic, tmp_path, scenarios=scenarios)
    assert len(found) == len(paths.figures) >= 10
    assert [(title, pairs) for title, pairs in found if pairs] == []
    names = {p.stem for p in paths.figures}
    assert {"verdict-stream-cpu", "verdict-batch-cpu"} <= names


def test_text_cut_by_the_figure_edge_is_detected() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.text(0.9, 0.5, "runs over the right edge", transform=fig.transFigure)
    ax.text(0.1, 0.5, "inside")
    assert _plots.text_overlaps(fig) == [("runs over the right edge", _plots.FIGURE_EDGE)]
