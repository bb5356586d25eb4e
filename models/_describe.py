"""The zoo as rows: what ``ortkit models`` shows (and its ``--json``)."""

from __future__ import annotations

from typing import Any

from ortkit.models._registry import get_entry, get_spec, list_models
from ortkit.models._zoo import BUDGET_TOLERANCE, budget_match

__all__ = ["describe_models"]


def _dims(dims: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


def describe_models(pattern: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
    """One row per (model, task preset): family, task kind, parameters, inputs, outputs, whether
    the model is causal, its fused recurrent layers and its parameter-budget match.

    Args:
        pattern: fnmatch pattern on model names (``"*lstm*"``).
        task: only presets for this task.
    """
    rows = []
    for name in list_models(pattern):
        entry = get_entry(name)
        for preset in sorted(entry.presets):
            if task is not None and preset != task:
                continue
            spec = get_spec(name, preset=preset)
            match = budget_match(name, preset)
            budget: dict[str, Any] | None = None
            if match is not None:
                params, target, diff = match
                budget = {"budget": target, "difference": round(diff, 4),
                          "within_tolerance": abs(diff) <= BUDGET_TOLERANCE}
            rows.append({
                "model": name, "family": spec.family, "task": preset, "task_kind": spec.task_kind,
                "parameters": spec.parameters, "causal": spec.causal,
                "recurrent_layers": spec.recurrent_layers,
                "inputs": {t.name: _dims(t.dims) for t in spec.inputs},
                "outputs": {t.name: _dims(t.dims) for t in spec.outputs},
                "budget": budget, "description": spec.description,
                "hyperparameters": {k: list(v) if isinstance(v, tuple) else v for k, v in spec.hparams().items()},
            })
    return rows
