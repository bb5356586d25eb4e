"""Figures for the report, drawn with matplotlib's object API (no pyplot state, no display).

Each function takes prepared series and returns PNG bytes, or None when there is nothing to
draw: the report then omits the figure with a note instead of drawing an empty frame.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass, field
from typing import Sequence

__all__ = ["Series", "Mark", "line_figure", "grid_figure", "pareto_figure", "shares_figure", "budget_figure", "has_data", "style_of",
           "text_overlaps"]

DPI = 96

#: one colour family per model family, shades per model (darkest first); others grey
FAMILY_SHADES = {
    "rnn": ("#08306b", "#2171b5", "#6baed6", "#9ecae1"),
    "cnn": ("#7f2704", "#d94801", "#fd8d3c", "#fdae6b"),
    "hybrid": ("#00441b", "#238b45", "#74c476", "#a1d99b"),
}
OTHER_SHADES = ("#252525", "#636363", "#969696")
#: line style per precision (the PyTorch baseline: dotted)
PRECISION_STYLE = {"fp32": "-", "fp16": "--", "int8-dynamic": "-.", "int8-static": (0, (5, 1, 1, 1, 1, 1)), "torch": ":"}


@dataclass(frozen=True)
class Series:
    """One line: ``x``/``y`` points, optional error band (``low``/``high``), a dashed style for
    baselines and an optional fitted power law ``fit = (coefficient, exponent)`` drawn thin."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    dashed: bool = False
    fit: tuple[float, float] | None = None
    color: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def drawable(self) -> bool:
        return any(math.isfinite(v) and v > 0 for v in self.y)


@dataclass(frozen=True)
class Mark:
    """A point marked on a curve (a crossover at ``x``, on the curve at ``y``) with its interval
    ``low``..``high`` drawn as a shaded vertical span; ``colors`` are the keys (model names) of the
    marker's face and edge."""

    label: str
    x: float
    y: float
    low: float
    high: float
    colors: tuple[str, str]


def _draw_marks(ax, marks: Sequence[Mark]) -> None:  # type: ignore[no-untyped-def]
    for mark in marks:
        face, _ = style_of(mark.colors[0])
        edge, _ = style_of(mark.colors[1])
        if mark.high > mark.low:
            ax.axvspan(mark.low, mark.high, color=edge, alpha=0.12, linewidth=0)
        ax.plot([mark.x], [mark.y], marker="X", markersize=10, color=face, markeredgecolor=edge, markeredgewidth=1.5, linestyle="none",
                label=mark.label, zorder=4)


def _figure(width: float, height: float, layout: str | None = None):  # type: ignore[no-untyped-def]
    # Margins are set by hand (`_margins`) for the common figures: the constrained layout engine
    # doubles the drawing time, which a report with a dozen figures feels.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _margins(fig, width: float, height: float, title: bool = False) -> None:  # type: ignore[no-untyped-def]
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.55 / height, top=1 - (0.75 if title else 0.4) / height,
                        wspace=0.9 / 4.0 * 1.3, hspace=0.75 / 3.4 * 2.2)


#: set by tests: called with (figure, overlapping pairs) for every figure drawn
OVERLAP_HOOK = None


def _png(fig) -> bytes:  # type: ignore[no-untyped-def]
    if OVERLAP_HOOK is not None:
        OVERLAP_HOOK(fig, text_overlaps(fig))
    buffer = io.BytesIO()
    # no "Software" chunk: the file then carries no URL at all, not even matplotlib's homepage
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


@functools.lru_cache(maxsize=None)
def _family(zoo: str) -> str | None:
    # cached: a family lookup reads the zoo's spec, and every series of every figure asks
    from ortkit.report._reportdata import family_of

    return family_of(zoo)


@functools.lru_cache(maxsize=None)
def _members(family: str) -> tuple[str, ...]:
    """The zoo models of a family, sorted: a model's rank among them picks its shade."""
    try:
        from ortkit.models import list_models

        return tuple(sorted(m for m in list_models() if _family(m) == family))
    except Exception:  # noqa: BLE001 - no zoo (torch missing): shade by name instead
        return ()


def style_of(label: str, key: str | None = None) -> tuple[str, object]:
    """(colour, line style) of a series: the colour from the model's family and its rank among
    that family's models (by zoo name, so every figure gives a model the same shade), the line
    style from the precision (or the PyTorch runner) written in the label."""
    base = (key or label).split()[0]
    zoo = base.split("-")[0]
    family = _family(zoo) or _family(base)
    shades = FAMILY_SHADES.get(family or "", OTHER_SHADES)
    members = _members(family) if family else ()
    rank = members.index(zoo) if zoo in members else sum(map(ord, zoo))
    precision = "torch" if "(torch" in label else next((p for p in PRECISION_STYLE if label.endswith(" " + p)), "fp32")
    return shades[rank % len(shades)], PRECISION_STYLE[precision]


def _renderer(fig):  # type: ignore[no-untyped-def]
    """The Agg renderer of a drawn figure (a bare `Figure` has no canvas that renders)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def text_overlaps(fig) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Pairs of drawn texts of a figure whose bounding boxes (from matplotlib's own renderer)
    overlap: titles, axis labels, tick labels inside the view, annotations and legend entries; and
    (text, `FIGURE_EDGE`) for a text that runs over the figure's edge."""
    from matplotlib.text import Text

    renderer = _renderer(fig)
    drawn = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis, (low, high) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if low <= tick.get_loc() <= high and tick.label1.get_visible():
                    drawn.append(tick.label1)
        drawn += [ax.title, ax.xaxis.label, ax.yaxis.label] + [t for t in ax.texts]
        if ax.get_legend() is not None:
            drawn += list(ax.get_legend().get_texts())
    for legend in fig.legends:
        drawn += list(legend.get_texts())
    drawn += [t for t in fig.texts if isinstance(t, Text)]
    boxes = []
    for text in drawn:
        if not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            boxes.append((text.get_text(), box.shrunk(0.96, 0.9)))
    pairs = [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]
    # a text cut by the figure's edge is as unreadable as one under another text
    page = fig.bbox
    return pairs + [(a, FIGURE_EDGE) for a, box in boxes if box.x0 < page.x0 or box.x1 > page.x1 or box.y0 < page.y0 or box.y1 > page.y1]


#: the partner named by `text_overlaps` for a text that runs over the figure's edge
FIGURE_EDGE = "(figure edge)"


def _draw_lines(ax, series: Sequence[Series], logx: bool, logy: bool) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    # a series' `color` is a key (the model's name), so a model and its baseline share a colour
    xs_all: set[float] = set()
    for s in series:
        points = [(x, y) for x, y in zip(s.x, s.y) if math.isfinite(y) and (y > 0 or not logy)]
        if not points:
            continue
        xs, ys = zip(*sorted(points))
        xs_all.update(xs)
        color, style = style_of(s.label, s.color)
        ax.plot(xs, ys, marker="o", markersize=4, linestyle=":" if s.dashed else style, color=color, label=s.label)
        if s.low is not None and s.high is not None:
            band = sorted((x, lo, hi) for x, lo, hi in zip(s.x, s.low, s.high) if math.isfinite(lo) and math.isfinite(hi))
            if len(band) > 1:
                bx, blo, bhi = zip(*band)
                ax.fill_between(bx, blo, bhi, color=color, alpha=0.15, linewidth=0)
        if s.fit is not None and len(xs) > 1:
            coefficient, exponent = s.fit
            fx = [xs[0], xs[-1]]
            ax.plot(fx, [coefficient * v**exponent for v in fx], linestyle=":", linewidth=1, color=color)
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    if logx:
        ax.set_xscale("log")
        if 0 < len(xs_all) <= 12:
            # the measured lengths or batch sizes themselves are the ticks a reader looks for
            ax.set_xticks(sorted(xs_all))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
    if logy:
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        if 0 < low and 2.5 <= high / low < 30:
            # over less than a decade and a half a plain log axis shows one label or none: label 1, 2, 5 x 10^k
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


def _palette() -> list[str]:
    return ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]


def line_figure(series: Sequence[Series], title: str, xlabel: str, ylabel: str, logx: bool = True, logy: bool = True) -> bytes | None:
    """One axes with one line per series; None when no series has a drawable point."""
    drawable = [s for s in series if s.drawable]
    if not drawable:
        return None
    fig = _figure(9.5, 4.2)
    _margins(fig, 9.5, 4.2)
    fig.subplots_adjust(right=1 - 2.4 / 9.5)  # the legend sits outside the data, on the right
    ax = fig.add_subplot()
    _draw_lines(ax, drawable, logx, logy)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def grid_figure(panels: Sequence[tuple[str, Sequence[Series]]], title: str, xlabel: str, ylabel: str, logx: bool = True, logy: bool = True,
                marks: dict[str, Sequence[Mark]] | None = None) -> bytes | None:
    """Several small axes side by side (e.g. one per batch size); empty panels are dropped.
    ``marks`` (by panel name) are drawn on their panel, named in the shared legend."""
    panels = [(name, [s for s in series if s.drawable]) for name, series in panels]
    panels = [(name, series) for name, series in panels if series]
    if not panels:
        return None
    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    legend_width = 2.4
    width, height = 4.0 * columns + 0.5 + legend_width, 3.4 * rows + 0.4
    fig = _figure(width, height)
    _margins(fig, width, height, title=True)
    fig.subplots_adjust(right=1 - legend_width / width)
    axes = fig.subplots(rows, columns, squeeze=False)
    entries: dict[str, object] = {}
    for index, (name, series) in enumerate(panels):
        ax = axes[index // columns][index % columns]
        _draw_lines(ax, series, logx, logy)
        _draw_marks(ax, (marks or {}).get(name, ()))
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    for index in range(len(panels), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    # one legend for all panels, outside the data: the same model has the same style everywhere
    fig.legend(list(entries.values()), list(entries), fontsize=7, loc="upper left", bbox_to_anchor=(1 - (legend_width - 0.1) / width, 0.93),
               frameon=False)
    fig.suptitle(title, fontsize=11)
    return _png(fig)


def pareto_figure(points: Sequence[tuple[str, float, float]], front: Sequence[int], title: str, xlabel: str, ylabel: str) -> bytes | None:
    """Scatter of (label, latency, score) with the Pareto front joined by a step line."""
    valid = [(i, p) for i, p in enumerate(points) if math.isfinite(p[1]) and math.isfinite(p[2]) and p[1] > 0]
    if not valid:
        return None
    fig = _figure(7.5, 4.5)
    _margins(fig, 7.5, 4.5)
    fig.subplots_adjust(left=1.05 / 7.5)  # scores carry more digits ("0.9775") than latencies
    ax = fig.add_subplot()
    on_front = set(front)
    labels = []
    xs = [math.log(p[1]) for _, p in valid]
    split = min(xs) + 0.6 * (max(xs) - min(xs))
    for i, (label, x, y) in valid:
        color, _ = style_of(label)
        ax.scatter([x], [y], s=44 if i in on_front else 20, color=color, edgecolors="black" if i in on_front else "none", zorder=3)
        # labels of points on the right run leftwards, so none is cut at the frame
        right = len(valid) > 1 and math.log(x) > split
        labels.append(ax.annotate(label, (x, y), fontsize=7, xytext=(-4 if right else 4, 3), textcoords="offset points",
                                  ha="right" if right else "left"))
    if len(front) > 1:
        fx = [points[i][1] for i in front]
        fy = [points[i][2] for i in front]
        ax.step(fx, fy, where="post", color="#444444", linewidth=1, alpha=0.7, label="Pareto front (outlined)")
        # in the bottom-left corner of the figure, under the axes, level with the x label's left
        fig.subplots_adjust(bottom=0.8 / 4.5)
        fig.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.005, 0.0), frameon=False)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _declutter(fig, labels)
    return _png(fig)


def _declutter(fig, labels: list) -> None:  # type: ignore[no-untyped-def, type-arg]
    """Move point labels apart until none overlaps another (at most a few passes): each label that
    overlaps an earlier one steps down by its own height."""
    if len(labels) < 2:
        return
    renderer = _renderer(fig)
    for _ in range(12):
        moved = False
        boxes = [label.get_window_extent(renderer) for label in labels]
        for i in range(1, len(labels)):
            if any(boxes[i].overlaps(boxes[j]) for j in range(i)):
                dx, dy = labels[i].get_position() if labels[i].get_position() else (4, 3)
                labels[i].set_position((dx, dy - boxes[i].height * 72.0 / DPI - 1))
                boxes[i] = labels[i].get_window_extent(renderer)
                moved = True
        if not moved:
            return


def shares_figure(bars: Sequence[tuple[str, Sequence[tuple[str, float]]]], title: str, top: int = 8) -> bytes | None:
    """Horizontal stacked bars of op-type time shares (fractions), one bar per model; the
    ``top`` op types over all bars keep their names, the rest are summed as "other"."""
    bars = [(label, [(op, share) for op, share in shares if share > 0]) for label, shares in bars]
    bars = [(label, shares) for label, shares in bars if shares]
    if not bars:
        return None
    totals: dict[str, float] = {}
    for _, shares in bars:
        for op, share in shares:
            totals[op] = totals.get(op, 0.0) + share
    named = [op for op, _ in sorted(totals.items(), key=lambda item: -item[1])[:top]]
    fig = _figure(7.5, 0.45 * len(bars) + 2.0, layout="constrained")
    ax = fig.add_subplot()
    colors = _palette()
    labels = [label for label, _ in bars]
    left = [0.0] * len(bars)
    for index, op in enumerate([*named, "other"]):
        widths = []
        for _, shares in bars:
            values = dict(shares)
            widths.append(sum(v for k, v in values.items() if k not in named) if op == "other" else values.get(op, 0.0))
        if not any(widths):
            continue
        widths = [100.0 * w for w in widths]
        ax.barh(labels, widths, left=left, color=colors[index % len(colors)] if op != "other" else "#cccccc", label=op)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of operator time (%)")
    ax.invert_yaxis()
    fig.legend(fontsize=7, ncol=min(5, len(named) + 1), loc="outside lower center")
    ax.set_title(title, fontsize=11)
    return _png(fig)


def budget_figure(series: Sequence[Series], budget: float, budget_label: str, title: str, xlabel: str, ylabel: str) -> bytes | None:
    """Lines (with their CI bands) against a horizontal budget: what lies above the red line
    misses it. None when no series has a drawable point."""
    drawable = [s for s in series if s.drawable]
    if not drawable:
        return None
    fig = _figure(9.5, 4.2)
    _margins(fig, 9.5, 4.2)
    fig.subplots_adjust(right=1 - 2.4 / 9.5)
    ax = fig.add_subplot()
    _draw_lines(ax, drawable, True, True)
    ax.axhline(budget, color="#cb181d", linewidth=1.5, label=budget_label)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def has_data(kind: str, *args: object) -> bool:
    """Whether the figure function ``kind`` would draw anything for these arguments (the same
    checks it makes, without drawing)."""
    if kind in ("line_figure", "budget_figure"):
        return any(s.drawable for s in args[0])  # type: ignore[attr-defined, union-attr]
    if kind == "grid_figure":
        return any(s.drawable for _, series in args[0] for s in series)  # type: ignore[attr-defined, union-attr]
    if kind == "pareto_figure":
        return any(math.isfinite(p[1]) and math.isfinite(p[2]) and p[1] > 0 for p in args[0])  # type: ignore[index, union-attr]
    if kind == "shares_figure":
        return any(share > 0 for _, shares in args[0] for _, share in shares)  # type: ignore[misc, union-attr]
    raise ValueError(f"unknown figure kind {kind!r}")
