"""The study report: figures and findings computed from a results database.

`build_report(dataset)` turns measured rows into sections (figures, tables, sentences);
`write_report(dataset, out_dir)` renders them as Markdown (figures as PNG files beside it) and as
ONE self-contained HTML file (figures inlined as base64 PNG, CSS inline, no script, no network
reference), so the HTML can be mailed or attached to a CI run and still shows everything.

Every sentence under "Findings" is formatted from numbers computed here; a figure with no data is
left out with a note saying so.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import tempfile
from pathlib import Path
from typing import Sequence

from ortkit.report._document import Figure, Report, ReportPaths, Section, Table
from ortkit.report._reportdata import Dataset
from ortkit.report._sections import SECTIONS, View, slug

__all__ = ["Figure", "Table", "Section", "Report", "build_report", "write_report", "render_markdown", "render_html", "ReportPaths"]





def build_report(dataset: Dataset, title: str = "ortkit study: RNN vs CNN deployment trade-offs", *, figures: bool = True) -> Report:
    """Compute every section of the report from the dataset.

    Args:
        figures: draw the figures (seconds); False computes findings and tables only, with empty
            placeholders where figures would be.
    """
    view = View(dataset, figures)
    sections = [make(view) for make in SECTIONS]
    seen: dict[str, int] = {}
    for section in sections:
        for index, figure in enumerate(section.figures):
            count = seen.get(figure.name, 0)
            seen[figure.name] = count + 1
            if count:
                section.figures[index] = Figure(f"{figure.name}-{count + 1}", figure.caption, figure.png)
    summary = []
    for section in sections:
        if section.title.startswith(("Crossover", "Latency", "INT8", "onnxruntime vs", "Unstable")):
            summary.extend(section.findings)
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Report(title, dataset.source, generated, summary, sections)


# -- rendering -----------------------------------------------------------------------------------


def render_markdown(report: Report, figure_dir: str = "figures") -> str:
    """Markdown with figures referenced as ``figure_dir/NAME.png`` (written by `write_report`)."""
    lines = [f"# {report.title}", "", f"Generated {report.generated} from `{report.source}`.", ""]
    if report.summary:
        lines += ["## Findings", ""] + [f"- {s}" for s in report.summary] + [""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        for figure in section.figures:
            lines += [f"![{figure.caption}]({figure_dir}/{figure.name}.png)", ""]
        for note in section.notes:
            lines += [f"*{note}*", ""]
        if section.findings:
            lines += [f"- {s}" for s in section.findings] + [""]
        for table in section.tables:
            lines += [_md_row(table.headers), _md_row(tuple("---" for _ in table.headers))]
            lines += [_md_row(row) for row in table.rows] + [""]
    return "\n".join(lines)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
table { border-collapse: collapse; font-size: .82em; margin: .8em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .note { color: #8a5a00; font-style: italic; }
ul.findings li { margin: .25em 0; } .meta { color: #666; font-size: .9em; }
"""


def render_html(report: Report) -> str:
    """One self-contained HTML page: inline CSS, figures as base64 PNG data URIs, no scripts."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(report.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>{esc(report.title)}</h1>",
        f'<p class="meta">Generated {esc(report.generated)} from <code>{esc(report.source)}</code>.</p>',
    ]
    if report.summary:
        out += ["<h2>Findings</h2>", '<ul class="findings">'] + [f"<li>{esc(s)}</li>" for s in report.summary] + ["</ul>"]
    for section in report.sections:
        out.append(f'<h2 id="{slug(section.title)}">{esc(section.title)}</h2>')
        if section.intro:
            out.append(f"<p>{esc(section.intro)}</p>")
        for figure in section.figures:
            data = base64.b64encode(figure.png).decode("ascii")
            out.append(f'<figure><img class="figure" id="fig-{esc(figure.name)}" alt="{esc(figure.caption)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{esc(figure.caption)}</figcaption></figure>')
        for note in section.notes:
            out.append(f'<p class="note">{esc(note)}</p>')
        if section.findings:
            out += ['<ul class="findings">'] + [f"<li>{esc(s)}</li>" for s in section.findings] + ["</ul>"]
        for table in section.tables:
            out.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.headers) + "</tr></thead><tbody>")
            out += ["<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in table.rows]
            out.append("</tbody></table>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def report_database(db: str | Path, out_dir: str | Path, *, environment: str | None = None) -> ReportPaths:
    """`ortkit report`: read the results database ``db`` (read-only) and write its report.

    Args:
        environment: only the results of this environment (a key or a unique key prefix).

    Raises:
        StoreError: the database is missing, foreign, of a newer schema, or holds no results.
        OrtkitError: the report cannot be written.
    """
    from ortkit.report._reportdata import load_dataset
    from ortkit.profiler import StoreError

    dataset = load_dataset(db, environment=environment)
    if not dataset.rows:
        what = f" of environment {environment}" if environment else ""
        damaged = f" ({len(dataset.damaged)} unreadable row(s))" if dataset.damaged else ""
        raise StoreError(f"{db} holds no results{what}{damaged}: measure something first (ortkit profile, ortkit sweep or ortkit study)")
    return write_report(dataset, out_dir)


def write_report(dataset: Dataset, out_dir: str | Path, name: str = "report") -> ReportPaths:
    """Write ``NAME.md`` (+ ``figures/*.png``) and the self-contained ``NAME.html`` into ``out_dir``.

    Raises:
        OrtkitError: when ``out_dir`` cannot be created or written.
    """
    from ortkit.base import OrtkitError

    out = Path(out_dir)
    figure_dir = out / "figures"
    try:
        figure_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OrtkitError(f"cannot write the report into {out}: {error.strerror or error}") from None
    report = build_report(dataset)
    try:
        paths = []
        for figure in report.figures:
            path = figure_dir / f"{figure.name}.png"
            write_atomically(path, figure.png)
            paths.append(path)
        markdown = out / f"{name}.md"
        write_atomically(markdown, render_markdown(report, "figures").encode("utf-8"))
        page = out / f"{name}.html"
        write_atomically(page, render_html(report).encode("utf-8"))
    except OSError as error:
        raise OrtkitError(f"cannot write the report into {out}: {error.strerror or error}") from None
    return ReportPaths(markdown, page, tuple(paths))


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, renamed over it
    only once complete: a full disk or a kill leaves the old file (or none), never a truncated
    PNG or HTML that looks like a report.

    Raises:
        OSError: the folder cannot be written (the temporary file is removed).
    """
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); a report gets the mode a plain write would give.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
