"""`ortkit compare A B`: the same configurations in two result sets, as ratios with intervals.

A and B are results databases (or one database twice), each optionally narrowed to one
environment with ``PATH@ENVKEY`` (a key prefix, as `ortkit env` prints it). Configurations are
matched on everything that defines them except the model file's path and hash, so a re-exported
model is still compared (the row says the file changed). Only results measured in the same
environment are compared unless ``cross_env`` is set: numbers of two machines differ for reasons
no code change explains.

``across`` pairs configurations that differ ONLY in one axis instead (``threads``, ``ep``,
``target``, ``precision``): "1 vs 2 threads" or "CPU vs OpenVINO" in one command, from two
databases or from one database twice with the two values named (``threads=1:2``). Comparing
across ``ep`` or ``target`` pairs rows of different environments by nature (each target is its
own environment); the other axes keep environments like for like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ortkit.base import OrtkitError, UsageError
from ortkit.report._analysis import Comparison, compare_groups
from ortkit.report._reportdata import Dataset, Row, load_dataset

__all__ = ["CompareRow", "CompareResult", "compare", "REGRESSION_EXIT_CODE", "ACROSS_AXES"]

#: axes `compare(across=...)` can pair along, and whether pairing along them crosses environments
ACROSS_AXES: dict[str, bool] = {"threads": False, "precision": False, "ep": True, "target": True}

#: exit status of `ortkit compare` when a regression is found (1 and 2 are errors and usage errors)
REGRESSION_EXIT_CODE = 3


class CompareError(OrtkitError):
    """The two result sets cannot be compared as asked."""


@dataclass(frozen=True)
class CompareRow:
    """One configuration in both sets; ``comparison`` is None when one side has no samples."""

    label: str
    base: Row
    new: Row
    comparison: Comparison | None
    verdict: str  # regression | improvement | unchanged | now-failing | now-working | not-measured
    model_changed: bool = False


@dataclass
class CompareResult:
    a: str
    b: str
    threshold: float
    cross_env: bool
    rows: list[CompareRow] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    environments: tuple[str, str] = ("", "")
    #: configurations of A (B) measured in an environment B (A) has no results of (not compared)
    other_env_a: int = 0
    other_env_b: int = 0
    #: stored rows of A (B) that could not be read back and were left out
    damaged_a: int = 0
    damaged_b: int = 0
    #: the axis compared across (None: the same configurations in both sets)
    across: str | None = None

    @property
    def regressions(self) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict in ("regression", "now-failing")]

    @property
    def improvements(self) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict in ("improvement", "now-working")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "threshold": self.threshold, "cross_env": self.cross_env, "across": self.across,
            "environments": list(self.environments),
            "rows": [{
                "configuration": r.label, "verdict": r.verdict, "model_changed": r.model_changed,
                "a_median_ms": r.base.median_ms if r.base.ok else None, "b_median_ms": r.new.median_ms if r.new.ok else None,
                "ratio": r.comparison.ratio if r.comparison else None, "ci_low": r.comparison.low if r.comparison else None,
                "ci_high": r.comparison.high if r.comparison else None, "p_value": r.comparison.p_value if r.comparison else None,
            } for r in self.rows],
            "only_a": self.only_a, "only_b": self.only_b, "other_env_a": self.other_env_a, "other_env_b": self.other_env_b,
            "damaged_a": self.damaged_a, "damaged_b": self.damaged_b,
            "regressions": len(self.regressions), "improvements": len(self.improvements),
        }


def _identity(row: Row, axis: str | None = None) -> str:
    """What pairs two rows: the configuration's identity without the model file's hash (a
    re-exported model is still compared, the row says the file changed) and without the torch
    version of a baseline (a torch upgrade is a change to compare, like any other); without the
    ``axis`` compared across, too."""
    data = row.spec.identity()
    data.pop("model_sha256")
    data["tags"] = [tag for tag in data["tags"] if tag[0] != "torch" and not (axis == "target" and tag[0] == "target")]
    if axis == "threads":
        data.pop("threads")
    elif axis == "ep":
        for name in ("ep", "ep_options", "ep_library"):
            data.pop(name)
    elif axis == "precision":
        # Each precision is its own exported file with its own label: the model is what it was
        # exported from.
        data.pop("precision")
        label = data.pop("model_label")
        data["model"] = [row.spec.zoo_name, data.pop("zoo_overrides")] if row.spec.zoo_name else label.removesuffix(f"-{row.spec.precision}")
    return json.dumps(data, sort_keys=True, default=str)


def axis_value(row: Row, axis: str) -> str:
    """The row's value on a compared axis, as the user writes it (``threads=2``, ``ep=openvino``)."""
    if axis == "threads":
        return "default" if row.spec.threads is None else str(row.spec.threads)
    if axis == "target":
        return dict(row.spec.tags).get("target", "local")
    return str(getattr(row.spec, axis))


def _parse_across(across: str | None) -> tuple[str | None, tuple[str, str] | None]:
    if across is None:
        return None, None
    axis, _, values = across.partition("=")
    if axis not in ACROSS_AXES:
        raise CompareError(f"cannot compare across {axis!r}: choose one of {', '.join(ACROSS_AXES)} (e.g. --across threads=1:2)")
    if not values:
        return axis, None
    a_value, sep, b_value = values.partition(":")
    if not sep or not a_value or not b_value:
        raise CompareError(f"--across {across}: write the two values as {axis}=A:B, e.g. threads=1:2 or ep=cpu:openvino")
    return axis, (a_value, b_value)


def _open(source: str) -> tuple[Dataset, str]:
    path, _, env = source.partition("@")
    if not Path(path).is_file():
        raise CompareError(f"results database not found: {path}")
    dataset = load_dataset(path)
    keys = sorted({row.environment_key for row in dataset.rows})
    if env:
        chosen = [k for k in keys if k.startswith(env)]
        if len(chosen) != 1:
            raise CompareError(f"{path}: environment {env!r} matches {len(chosen)} of its environments ({', '.join(keys) or 'none'})")
        dataset.rows = [row for row in dataset.rows if row.environment_key == chosen[0]]
        keys = chosen
    if not dataset.rows:
        damaged = f" ({len(dataset.damaged)} unreadable row(s))" if dataset.damaged else ""
        raise CompareError(f"{source} holds no results{damaged}")
    return dataset, keys[0] if len(keys) == 1 else ""


def compare(a: str, b: str, *, threshold: float = 0.05, cross_env: bool = False, alpha: float = 0.05,
            across: str | None = None) -> CompareResult:
    """Compare result set ``b`` (new) against ``a`` (baseline), configuration by configuration.

    Args:
        a, b: ``PATH`` or ``PATH@ENVKEY`` of results databases.
        threshold: relative slowdown that counts as a regression (0.05 = 5%).
        cross_env: also pair results measured in different environments.
        alpha: significance level (Mann-Whitney U and the ratio's 1 - alpha bootstrap interval).
        across: ``AXIS`` or ``AXIS=A:B`` (axes: `ACROSS_AXES`): pair configurations that differ
            only in that axis, A's rows having value A and B's value B when values are given.

    Raises:
        CompareError: a missing or empty database, an ambiguous environment, or no configuration
            in common (with the reason: different environments without ``cross_env``).
    """
    if not 0 <= threshold < float("inf"):
        # A bad option is a usage error (exit 2), like click's own, not a failed comparison.
        raise UsageError(f"--threshold must be a finite number >= 0 (0.05 = 5%), got {threshold}")
    axis, values = _parse_across(across)
    base, env_a = _open(a)
    new, env_b = _open(b)
    if axis is not None and values is not None:
        for dataset, value, name in ((base, values[0], a), (new, values[1], b)):
            dataset.rows = [row for row in dataset.rows if axis_value(row, axis) == value]
            if not dataset.rows:
                raise CompareError(f"{name} has no results with {axis}={value}")
    pair_envs = not cross_env and not (axis is not None and ACROSS_AXES[axis])
    result = CompareResult(a, b, threshold, not pair_envs, environments=(env_a, env_b), damaged_a=len(base.damaged),
                           damaged_b=len(new.damaged), across=axis)

    def index(dataset: Dataset, name: str) -> dict[tuple[str, str], Row]:
        out: dict[tuple[str, str], Row] = {}
        for row in dataset.rows:
            key = (row.environment_key if pair_envs else "", _identity(row, axis))
            if axis is not None and key in out:
                raise CompareError(
                    f"{name} holds several {axis} values for one configuration ({axis_value(out[key], axis)} and "
                    f"{axis_value(row, axis)}): name the two to compare, e.g. --across {axis}=A:B")
            out[key] = row
        return out

    if cross_env and axis is None:
        for name, env in ((a, env_a), (b, env_b)):
            if not env:
                raise CompareError(f"{name.partition('@')[0]} holds several environments; pick one with PATH@ENVKEY")
    left, right = index(base, a), index(new, b)
    common = [key for key in left if key in right]
    envs_a = {row.environment_key for row in base.rows}
    envs_b = {row.environment_key for row in new.rows}
    if not common:
        if pair_envs and not envs_a & envs_b:
            raise CompareError(
                f"{a} and {b} were measured in different environments ({', '.join(sorted(envs_a))} vs {', '.join(sorted(envs_b))}); "
                "numbers of different machines or software stacks are not like for like: pass --cross-env to compare anyway"
            )
        first_a, first_b = (min(r.spec.describe() for r in d.rows) for d in (base, new))
        raise CompareError(f"{a} and {b} have no configuration in common (A has e.g. {first_a}; B has e.g. {first_b})")
    for key in common:
        old_row, new_row = left[key], right[key]
        label = new_row.spec.describe()
        if new_row.spec.precision not in label:
            label += f" {new_row.spec.precision}"
        if axis is not None:
            label = f"{label} [{axis} {axis_value(old_row, axis)} -> {axis_value(new_row, axis)}]"
        changed = old_row.spec.model_sha256 != new_row.spec.model_sha256
        if old_row.ok and new_row.ok:
            comparison = compare_groups(old_row, new_row, threshold=threshold, alpha=alpha)
            result.rows.append(CompareRow(label, old_row, new_row, comparison, comparison.verdict, changed))
        else:
            verdict = "now-failing" if old_row.ok else "now-working" if new_row.ok else "not-measured"
            result.rows.append(CompareRow(label, old_row, new_row, None, verdict, changed))
    # Without cross_env, a configuration of an environment the other side never measured in is
    # not "missing" there: it is counted apart, so the same label never shows as both compared
    # and missing.
    shared = envs_a & envs_b
    result.only_a = sorted(left[k].spec.describe() for k in left if k not in right and (not pair_envs or k[0] in shared))
    result.only_b = sorted(right[k].spec.describe() for k in right if k not in left and (not pair_envs or k[0] in shared))
    result.other_env_a = 0 if not pair_envs else sum(1 for k in left if k[0] not in shared)
    result.other_env_b = 0 if not pair_envs else sum(1 for k in right if k[0] not in shared)
    order = {"regression": 0, "now-failing": 1, "improvement": 2, "now-working": 3, "unchanged": 4, "not-measured": 5}
    result.rows.sort(key=lambda r: (order[r.verdict], -(r.comparison.ratio if r.comparison else 0)))
    return result


def print_comparison(result: CompareResult, file: Any = None) -> None:
    """The comparison as a table (regressions first) and a one-line verdict."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=file, width=160)
    title = f"{result.b} vs {result.a}" + (f" across {result.across}" if result.across else "")
    table = Table(title=escape(f"{title} (ratio = B / A median, > 1: slower)"))
    for column in ("configuration", "A", "B", "ratio [95% CI]", "p", "verdict"):
        table.add_column(column)
    style = {"regression": "red", "now-failing": "red", "improvement": "green", "now-working": "green"}
    for row in result.rows:
        c = row.comparison
        a = f"{row.base.median_ms:.4g} ms" if row.base.ok else row.base.status
        b = f"{row.new.median_ms:.4g} ms" if row.new.ok else row.new.status
        ratio = f"{c.ratio:.3f} [{c.low:.3f}, {c.high:.3f}]" if c else "-"
        verdict = row.verdict + (" (model file changed)" if row.model_changed else "")
        colour = style.get(row.verdict)
        table.add_row(escape(row.label), escape(a), escape(b), ratio, f"{c.p_value:.2g}" if c else "-",
                      f"[{colour}]{escape(verdict)}[/{colour}]" if colour else escape(verdict))
    console.print(table)
    for name, items in (("only in A", result.only_a), ("only in B", result.only_b)):
        if items:
            console.print(escape(f"{len(items)} configuration(s) {name}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"))
    for name, count in (("A", result.damaged_a), ("B", result.damaged_b)):
        if count:
            console.print(f"{count} stored row(s) of {name} could not be read back (edited or damaged database) and were left out")
    for name, count in (("A", result.other_env_a), ("B", result.other_env_b)):
        if count:
            console.print(f"{count} configuration(s) of {name} were measured in an environment the other side has no results of: "
                          "not compared (pick environments with PATH@ENVKEY and --cross-env)")
    console.print(f"{len(result.regressions)} regression(s) beyond {result.threshold:.0%}, {len(result.improvements)} improvement(s), "
                  f"{len(result.rows)} configuration(s) compared" + (" across environments" if result.cross_env else ""))
