"""Which precision variants may race: the accuracy constraint, checked before any timing.

A variant made by `ortkit export --fp16 / --int8 dynamic|static` lies next to the fp32 file and
is listed in the export's ``export.json`` (the study puts the static INT8 export in ``static/``).
For a trained zoo checkpoint the export recorded the task metric of the fp32 file and of the
variant on the task's test split (`variants[].metric`); a variant races only when its drop is
within ``max_metric_drop``. Otherwise (no task, untrained) its outputs must stay within the
exporter's tolerance for its precision of the fp32 outputs on random feeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ortkit.base import file_sha256

__all__ = ["PrecisionCheck", "DEFAULT_MAX_METRIC_DROP", "precision_variants"]

#: the metric drop a variant may cost unless the caller says otherwise: 1 point of accuracy
#: (or 0.01 more MSE)
DEFAULT_MAX_METRIC_DROP = 0.01
PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-static")


@dataclass(frozen=True)
class PrecisionCheck:
    """One precision variant and whether it may race: ``allowed``, and ``reason`` in words
    (``accuracy 0.912 -> 0.905 on seq-digits test: drop 0.007 <= 0.01``)."""

    precision: str
    path: str
    sha256: str
    allowed: bool
    reason: str
    drop: float | None = None


def _exports(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for report in (folder / "export.json", folder / "static" / "export.json"):
        try:
            found.append((report.parent, json.loads(report.read_text())))
        except (OSError, ValueError):
            continue
    return found


def precision_variants(model: Path, precisions: tuple[str, ...], max_metric_drop: float, probe: tuple[int, int | None]) -> list[PrecisionCheck]:
    """The variants of ``model`` (an fp32 export's model.onnx) among ``precisions``, each checked
    against the accuracy constraint. A precision without a file is reported as not allowed."""
    model = model.resolve()
    files: dict[str, tuple[Path, dict[str, Any] | None]] = {}
    for folder, data in _exports(model.parent):
        if folder == model.parent and data.get("file", "model.onnx") != model.name:
            return [PrecisionCheck(p, "", "", False, f"{model.name} is not the export's fp32 file") for p in precisions if p != "fp32"]
        for variant in data.get("variants") or []:
            kind, name = variant.get("kind"), variant.get("file")
            if kind in PRECISIONS and kind != "fp32" and isinstance(name, str):
                files.setdefault(kind, (folder / name, variant.get("metric")))
    out = []
    for precision in precisions:
        if precision == "fp32":
            continue
        if precision not in files or not files[precision][0].is_file():
            out.append(PrecisionCheck(precision, "", "", False,
                                      f"no {precision} variant next to the model (export it with `ortkit export` and its --fp16/--int8 options)"))
            continue
        path, metric = files[precision]
        out.append(_check(model, path, precision, metric, max_metric_drop, probe))
    return out


def _check(model: Path, path: Path, precision: str, metric: Any, max_drop: float, probe: tuple[int, int | None]) -> PrecisionCheck:
    sha = file_sha256(path)
    if isinstance(metric, dict) and all(isinstance(metric.get(k), (int, float)) for k in ("fp32", "variant")):
        before, after = float(metric["fp32"]), float(metric["variant"])
        drop = before - after if metric.get("higher_is_better", True) else after - before
        ok = drop <= max_drop
        text = (f"{metric.get('name', 'metric')} {before:.4g} -> {after:.4g} on {metric.get('task', 'the task')} "
                f"{metric.get('split', 'test')}: drop {drop:.4g} {'<=' if ok else '>'} {max_drop:g}")
        return PrecisionCheck(precision, str(path), sha, ok, text, drop)
    error = _output_error(model, path, probe)
    if error is None:
        return PrecisionCheck(precision, str(path), sha, False, "its outputs could not be compared with fp32 on random feeds")
    from ortkit.exporter import TOLERANCES

    ok = error <= 1.0
    text = (f"no task metric recorded: outputs within {error:.2g}x of the {precision} tolerance of fp32 on random feeds"
            if ok else f"no task metric recorded: outputs {error:.3g}x outside the {precision} tolerance "
            f"(atol {TOLERANCES[precision].atol:g}, rtol {TOLERANCES[precision].rtol:g})")
    return PrecisionCheck(precision, str(path), sha, ok, text)


def _output_error(model: Path, variant: Path, probe: tuple[int, int | None]) -> float | None:
    """The worst |variant - fp32| over its allowance (atol + rtol |fp32|) on random feeds at a
    small shape near ``probe``: <= 1 is within the exporter's tolerance for that precision."""
    from ortkit.exporter import TOLERANCES
    from ortkit.runtime import Runtime, random_feeds

    batch, time = min(probe[0], 4), None if probe[1] is None else min(probe[1], 64)
    try:
        with Runtime(model, providers="cpu") as base, Runtime(variant, providers="cpu") as other:
            feeds = random_feeds([(i.name, i.dtype, _shape(i.dims, batch, time)) for i in base.inputs], seed=0)
            expected = base.run(feeds, as_tuple=True)
            got = other.run(feeds, cast=True, as_tuple=True)
    except Exception:  # noqa: BLE001 - any failure here means "cannot vouch for this variant"
        return None
    # The variant's own metadata says its precision; an unlabelled file gets the fp16 tolerance.
    tolerance = TOLERANCES.get(_precision_key(variant), TOLERANCES["fp16"])
    worst = 0.0
    for ref, out in zip(expected, got):
        ref, out = np.asarray(ref, dtype=np.float64), np.asarray(out, dtype=np.float64)
        if ref.shape != out.shape or not np.all(np.isfinite(out)):
            return np.inf
        allowed = tolerance.atol_for(ref) + tolerance.rtol * np.abs(ref)
        worst = max(worst, float(np.max(np.abs(out - ref) / allowed)) if ref.size else 0.0)
    return worst


def _precision_key(path: Path) -> str:
    from ortkit.runtime import read_metadata

    return read_metadata(path).precision


def _shape(dims: Any, batch: int, time: int | None) -> tuple[int, ...]:
    """A concrete shape: fixed dims as declared, the first axis the batch, any other dynamic
    axis the time."""
    return tuple(d if isinstance(d, int) else batch if axis == 0 else (time or 1) for axis, d in enumerate(dims))
