"""The classic RNN-vs-CNN claims, measured: one row per claim, what was measured, supported or not.

The study trains small models of each family (same parameter budget: the zoo's presets) on a task
at several sequence lengths and seeds and writes one `ClaimRun` per training into ``claims.json``
beside the results database; this module reads them and judges each claim from those numbers
only. A claim the runs cannot decide says "not measured" with the reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ortkit.base import OrtkitError
from ortkit.report._analysis import t_quantile
from ortkit.report._document import Figure, Section, Table
from ortkit.report._view import View, make_series

__all__ = ["ClaimRun", "CLAIMS_FILE", "load_claims", "save_claims", "claims_section"]

#: the file `ortkit study` writes beside its database; `ortkit report` reads it from there
CLAIMS_FILE = "claims.json"


@dataclass(frozen=True)
class ClaimRun:
    """One training run of the claims study: ``metric`` on the test split after the time budget,
    ``history`` the (epoch, seconds, validation metric) after each epoch."""

    model: str
    family: str
    task: str
    length: int
    seed: int
    parameters: int
    metric_name: str
    higher_is_better: bool
    metric: float
    epochs: int
    seconds: float
    target: float
    history: tuple[tuple[int, float, float], ...] = field(default=())
    #: a run of the local-feature claim (one length), not of the long-range ones
    local: bool = False

    def meets(self, value: float) -> bool:
        return value >= self.target if self.higher_is_better else value <= self.target

    def time_to_target(self) -> tuple[int, float] | None:
        """(epochs, seconds) when the validation metric first met the target; None if never."""
        for epoch, seconds, value in self.history:
            if self.meets(value):
                return epoch, seconds
        return None


def save_claims(path: str | Path, runs: Sequence[ClaimRun]) -> None:
    try:
        Path(path).write_text(json.dumps([asdict(r) for r in runs], indent=1), encoding="utf-8")
    except OSError as error:
        raise OrtkitError(f"cannot write {path}: {error.strerror or error}") from None


def load_claims(path: str | Path) -> tuple[ClaimRun, ...]:
    """The runs in a claims file (none when there is no file; an unreadable one is an error)."""
    file = Path(path)
    if not file.is_file():
        return ()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return tuple(ClaimRun(**{**item, "history": tuple(tuple(h) for h in item.get("history", ()))}) for item in data)
    except (OSError, ValueError, TypeError) as error:
        raise OrtkitError(f"{file}: not a readable claims file: {error}") from None


def _mean_ci(values: Sequence[float]) -> str:
    """Mean with a 95% t-interval across seeds (just the value for one seed)."""
    x = np.asarray(values, dtype=float)
    if x.size == 1:
        return f"{x[0]:.3g} (1 seed)"
    half = t_quantile(0.95, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return f"{x.mean():.3g} ± {half:.2g} ({x.size} seeds)"


def _by(runs: Sequence[ClaimRun], *keys: str) -> dict[tuple[Any, ...], list[ClaimRun]]:
    out: dict[tuple[Any, ...], list[ClaimRun]] = {}
    for run in runs:
        out.setdefault(tuple(getattr(run, k) for k in keys), []).append(run)
    return out


def _score(runs: Sequence[ClaimRun]) -> float:
    return float(np.mean([r.metric for r in runs]))


def _efficiency(runs: Sequence[ClaimRun]) -> tuple[str, str, str]:
    claim = "RNNs are slower to train than CNNs of the same size"
    task = min(runs, key=lambda r: r.length)
    shortest = [r for r in runs if r.task == task.task and r.length == task.length]
    parts, seconds = [], {}
    for (family,), group in sorted(_by(shortest, "family").items()):
        reached = [r.time_to_target() for r in group]
        done = [t for t in reached if t is not None]
        if done:
            seconds[family] = float(np.median([t[1] for t in done]))
            parts.append(f"{family}: {len(done)}/{len(group)} runs reached {task.metric_name} {task.target:g}, in "
                         f"{_mean_ci([t[1] for t in done])} s, {_mean_ci([float(t[0]) for t in done])} epochs")
        else:
            parts.append(f"{family}: 0/{len(group)} runs reached {task.metric_name} {task.target:g}")
    measured = f"{task.task} at T = {task.length}: " + "; ".join(parts)
    if "rnn" not in seconds or "cnn" not in seconds:
        return claim, measured, "undecided: a family never reached the target"
    verdict = "supported" if seconds["rnn"] > seconds["cnn"] else "not supported"
    return claim, measured, f"{verdict} (median {seconds['rnn']:.3g} s vs {seconds['cnn']:.3g} s)"


def _horizon(runs: Sequence[ClaimRun]) -> tuple[dict[str, int | None], str]:
    """Per family, the longest length at which the mean metric still meets the target (its memory horizon)."""
    horizons: dict[str, int | None] = {}
    parts = []
    for (family,), group in sorted(_by(runs, "family").items()):
        scores = {length: _score(g) for (length,), g in sorted(_by(group, "length").items())}
        met = [length for length, value in scores.items() if group[0].meets(value)]
        horizons[family] = max(met) if met else None
        parts.append(f"{family} " + ", ".join(f"T={length}: {_mean_ci([r.metric for r in group if r.length == length])}"
                                              for length in scores))
    return horizons, "; ".join(parts)


def _long_range(runs: Sequence[ClaimRun]) -> tuple[str, str, str]:
    claim = f"RNNs carry information over longer ranges than CNNs ({runs[0].task})"
    horizons, measured = _horizon(runs)
    target = runs[0]
    measured = f"{target.task}, {target.metric_name} (target {target.target:g}): {measured}"
    shown = ", ".join(f"{f} {'none' if h is None else f'T = {h}'}" for f, h in horizons.items())
    if "rnn" not in horizons or "cnn" not in horizons:
        return claim, measured, "undecided: both families are needed"
    rnn, cnn = horizons["rnn"] or 0, horizons["cnn"] or 0
    if not rnn and not cnn:
        return claim, measured, f"undecided: neither family met the target at any length ({shown})"
    verdict = "supported" if rnn > cnn else ("cannot separate them" if rnn == cnn else "not supported")
    return claim, measured, f"{verdict} (memory horizon: {shown})"


def _hybrid(runs: Sequence[ClaimRun]) -> tuple[str, str, str]:
    claim = "the hybrid CRNN matches the better of RNN and CNN"
    cells, wins, total = [], 0, 0
    for (task, length), group in sorted(_by(runs, "task", "length").items()):
        families = {f: _score(g) for (f,), g in _by(group, "family").items()}
        if "hybrid" not in families or len(families) < 3:
            continue
        higher = group[0].higher_is_better
        best_other = max(v for f, v in families.items() if f != "hybrid") if higher else min(v for f, v in families.items() if f != "hybrid")
        slack = 0.05 * abs(best_other)
        ok = families["hybrid"] >= best_other - slack if higher else families["hybrid"] <= best_other + slack
        wins += ok
        total += 1
        cells.append(f"{task} T={length}: hybrid {families['hybrid']:.3g} vs best other {best_other:.3g}")
    if not total:
        return claim, "no run of all three families at one length", "not measured"
    verdict = "supported" if wins == total else ("partly supported" if wins else "not supported")
    return claim, "; ".join(cells), f"{verdict} (within 5% of the better family at {wins} of {total} lengths)"


def claims_section(view: View, runs: Sequence[ClaimRun]) -> Section:
    section = Section(
        "The classic claims, measured",
        "Each claim judged from training runs made for it: the zoo's models of each family at the same parameter budget, "
        "trained for the same time budget per run; means with 95% t-intervals across seeds.",
        tables_first=True,
    )
    if not runs:
        section.notes.append("No claims runs were recorded (the study file has no [claims] table): nothing judged.")
        return section
    multi = list(dict.fromkeys(r.task for r in runs if not r.local))
    local = list(dict.fromkeys(r.task for r in runs if r.local))
    long_runs = [r for r in runs if not r.local]
    rows = [_efficiency(long_runs or list(runs))] + [_long_range([r for r in runs if r.task == t]) for t in multi]
    rows.append(_hybrid(long_runs))
    rows.append(_local([r for r in runs if r.local and r.task == local[0]]) if local else
                ("CNNs extract local features better", "-", "not measured: the study file names no local_task"))
    section.tables.append(Table(("claim", "what was measured", "verdict"), tuple(rows)))
    panels = []
    for task in multi:
        group = [r for r in runs if r.task == task]
        series = []
        for (model,), model_runs in sorted(_by(group, "model").items()):
            lengths = sorted({r.length for r in model_runs})
            series.append(make_series(model, lengths, [_score([r for r in model_runs if r.length == t]) for t in lengths]))
        panels.append((f"{task}: test {group[0].metric_name} ({'higher' if group[0].higher_is_better else 'lower'} is better)", series))
    png = view.plot("grid_figure", panels, "Claims: the metric against the sequence length", "sequence length T", "test metric", True, False)
    if png is not None:
        section.figures.append(Figure("claims-length", "Test metric against T per model and task (mean over seeds); a flat line at chance "
                                      "marks the length a model's memory no longer reaches.", png))
    return section


def _local(runs: Sequence[ClaimRun]) -> tuple[str, str, str]:
    claim = f"CNNs extract local features better ({runs[0].task})"
    scores = {f: [r.metric for r in g] for (f,), g in sorted(_by(runs, "family").items())}
    measured = f"T = {runs[0].length}, test {runs[0].metric_name}: " + "; ".join(f"{f} {_mean_ci(v)}" for f, v in scores.items())
    if "rnn" not in scores or "cnn" not in scores:
        return claim, measured, "undecided: both families are needed"
    cnn, rnn = float(np.mean(scores["cnn"])), float(np.mean(scores["rnn"]))
    if not runs[0].meets(cnn) and not runs[0].meets(rnn):
        return claim, measured, f"undecided: neither family met the target {runs[0].target:g} (cnn {cnn:.3g}, rnn {rnn:.3g})"
    better = cnn > rnn if runs[0].higher_is_better else cnn < rnn
    return claim, measured, f"{'supported' if better else 'not supported'} (cnn {cnn:.3g} vs rnn {rnn:.3g})"
