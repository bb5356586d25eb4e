"""What every report section shares: the rows grouped for reading, and number formatting."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Iterable, Sequence


from ortkit.report._reportdata import Dataset, Row, most_common

N_BOOT = 1000


# -- formatting ----------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 0.1:
        return f"{value:.3f} ms"
    return f"{value * 1000:.1f} us"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x" if math.isfinite(value) else "n/a"


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value / 2**20:.1f} MiB"


def caveat(rows: Iterable[Row]) -> str:
    """A clause saying how many of the measurements behind a sentence are unstable (or nothing)."""
    rows = list(rows)
    unstable = sum(1 for r in rows if r.unstable)
    return f" [{unstable} of {len(rows)} measurements behind this are unstable]" if unstable else ""


def is_tuning(row: Row) -> bool:
    tags = dict(row.spec.tags)
    return "tune" in tags or "tuned" in tags


def slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts if p is not None)
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-").lower()


# -- grouping ------------------------------------------------------------------------------------


class View:
    """Labels and canonical choices shared by all sections of one report."""

    def __init__(self, dataset: Dataset, figures: bool = True) -> None:
        self.dataset = dataset
        self.figures = figures
        self.multi_env = len({row.environment_key for row in dataset.rows}) > 1

    def where(self, row: Row) -> str:
        """The target label: EP (and target environment), plus the environment when a database
        holds several, so numbers of different machines are never drawn on one axis unlabelled."""
        return f"{row.target} [env {row.environment_key[:6]}]" if self.multi_env else row.target

    def offline(self, row: Row) -> bool:
        return row.spec.chunk is None and row.spec.concurrency == 1 and row.spec.time is not None

    def family(self, row: Row) -> str | None:
        return self.dataset.family(row)

    def rows(self, predicate: Callable[[Row], bool]) -> list[Row]:
        """Measured rows, tuning rows left out: a tuned configuration or a tuning race's
        candidate is not "the" model at that shape (the tuning section and the verdict read them
        with `tuning_rows`)."""
        return self.dataset.select(lambda row: not is_tuning(row) and predicate(row))

    def tuning_rows(self, predicate: Callable[[Row], bool]) -> list[Row]:
        """Rows of `ortkit tune` (tagged ``tune``: race and confirmation) and tuned configurations
        (tagged ``tuned``)."""
        return self.dataset.select(lambda row: is_tuning(row) and predicate(row))

    def plot(self, kind: str, *args: Any, **kwargs: Any) -> bytes | None:
        """Draw with `plots_module.<kind>`; without figures (findings only) an empty placeholder stands
        for a figure that would have data, and None still means no data."""
        plots = plots_module()
        if self.figures:
            return getattr(plots, kind)(*args, **kwargs)
        return b"" if getattr(plots, "has_data")(kind, *args) else None


def group_rows(rows: Iterable[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(groups)


def canonical_threads(rows: Sequence[Row]) -> Any:
    return most_common(row.spec.threads for row in rows)


def threads_text(threads: Any) -> str:
    return "default threads" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}"


def sorted_keys(keys: Iterable[Any]) -> list[Any]:
    return sorted(keys, key=lambda k: tuple("" if v is None else (f"{v:012d}" if isinstance(v, int) else str(v)) for v in (k if isinstance(k, tuple) else (k,))))


def make_series(label: str, x: Sequence[float], y: Sequence[float], low: Sequence[float] | None = None, high: Sequence[float] | None = None,
            dashed: bool = False, fit: tuple[float, float] | None = None, color: str | None = None) -> Any:
    return plots_module().Series(label, tuple(x), tuple(y), None if low is None else tuple(low), None if high is None else tuple(high), dashed, fit,
                           color)


def plots_module() -> Any:
    # matplotlib loads only when a figure is drawn: findings and tables work without it.
    from ortkit.report import _plots

    return _plots


def sorted_items(groups: dict[Any, list[Row]]) -> list[tuple[Any, list[Row]]]:
    return [(key, groups[key]) for key in sorted_keys(groups)]


def describe_row(view: View, row: Row) -> str:
    text = row.spec.describe()
    if row.spec.precision != "fp32" and row.spec.precision not in text:
        text += f" {row.spec.precision}"
    return text + (f" [env {row.environment_key[:6]}]" if view.multi_env else "")


def one_line(message: str | None) -> str:
    if not message:
        return "(no message)"
    line = " ".join(message.split())
    return line if len(line) <= 300 else line[:297] + "..."
