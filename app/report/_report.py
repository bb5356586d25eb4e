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
from typing import Mapping, Sequence

from ortkit.report._document import Figure, Report, ReportPaths, Section, Table
from ortkit.report._reportdata import Dataset
from ortkit.report._claims import CLAIMS_FILE, ClaimRun, claims_section, load_claims
from ortkit.report._roofline import CEILING_FILE, Ceiling, load_ceilings, roofline_section
from ortkit.report._scenarios import Scenario, scenario_from_dict
from ortkit.report._sections import SECTIONS, View, slug
from ortkit.report._verdict import verdict_section

__all__ = ["Figure", "Table", "Section", "Report", "build_report", "write_report", "render_markdown", "render_html", "ReportPaths",
           "load_scenarios", "STUDY_FILE"]





def build_report(dataset: Dataset, title: str = "ortkit study: RNN vs CNN deployment trade-offs", *, figures: bool = True,
                 scenarios: Sequence[Scenario] = (), claims: Sequence[ClaimRun] = (), ceilings: dict[str, Ceiling] | None = None) -> Report:
    """Compute every section of the report from the dataset, the verdict on ``scenarios`` first.

    Args:
        figures: draw the figures (seconds); False computes findings and tables only, with empty
            placeholders where figures would be.
        scenarios: the deployment scenarios the verdict answers (a study file's ``[[scenario]]``).
        claims: the claims study's training runs (judged in their own section, after the verdict).
        ceilings: GEMM ceilings by environment key (the roofline section; omitted when None).
    """
    view = View(dataset, figures)
    sections = [verdict_section(view, scenarios)] + [make(view) for make in SECTIONS]
    if claims:
        sections.insert(1, claims_section(view, claims))
    if ceilings is not None:
        sections.insert(len(sections) - 4, roofline_section(view, ceilings))  # before ops, placement, problems, environment
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

#: the per-configuration sentences, after everything else: the verdict answers first
APPENDIX = "Appendix: findings per configuration"


def render_markdown(report: Report, figure_dir: str = "figures") -> str:
    """Markdown with figures referenced as ``figure_dir/NAME.png`` (written by `write_report`)."""
    lines = [f"# {report.title}", "", f"Generated {report.generated} from `{report.source}`.", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        tables = []
        for table in section.tables:
            tables += [_md_row(table.headers), _md_row(tuple("---" for _ in table.headers))]
            tables += [_md_row(row) for row in table.rows] + [""]
        if section.tables_first:
            lines += tables
        for figure in section.figures:
            lines += [f"![{figure.caption}]({figure_dir}/{figure.name}.png)", ""]
        for note in section.notes:
            lines += [f"*{note}*", ""]
        if section.findings:
            lines += [f"- {s}" for s in section.findings] + [""]
        if not section.tables_first:
            lines += tables
    if report.summary:
        lines += [f"## {APPENDIX}", ""] + [f"- {s}" for s in report.summary] + [""]
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
    for section in report.sections:
        out.append(f'<h2 id="{slug(section.title)}">{esc(section.title)}</h2>')
        if section.intro:
            out.append(f"<p>{esc(section.intro)}</p>")
        tables = []
        for table in section.tables:
            tables.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.headers) + "</tr></thead><tbody>")
            tables += ["<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in table.rows]
            tables.append("</tbody></table>")
        if section.tables_first:
            out += tables
        for figure in section.figures:
            data = base64.b64encode(figure.png).decode("ascii")
            out.append(f'<figure><img class="figure" id="fig-{esc(figure.name)}" alt="{esc(figure.caption)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{esc(figure.caption)}</figcaption></figure>')
        for note in section.notes:
            out.append(f'<p class="note">{esc(note)}</p>')
        if section.findings:
            out += ['<ul class="findings">'] + [f"<li>{esc(s)}</li>" for s in section.findings] + ["</ul>"]
        if not section.tables_first:
            out += tables
    if report.summary:
        out += [f'<h2 id="{slug(APPENDIX)}">{esc(APPENDIX)}</h2>', '<ul class="findings">'] + [f"<li>{esc(s)}</li>" for s in report.summary] + ["</ul>"]
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def load_scenarios(path: str | Path) -> tuple[Scenario, ...]:
    """The ``[[scenario]]`` tables of a study file (none when the file does not exist).

    Raises:
        ScenarioError: the file is not TOML or a scenario is invalid.
    """
    import tomllib

    from ortkit.report._scenarios import ScenarioError

    file = Path(path)
    if not file.is_file():
        return ()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{file}: not a readable TOML study file: {error}") from None
    tables = data.get("scenario", [])
    if not isinstance(tables, list):
        raise ScenarioError(f"{file}: 'scenario' must be an array of tables ([[scenario]])")
    return tuple(scenario_from_dict(t, f"{file}: scenario {i + 1}") for i, t in enumerate(tables))


#: the study file `ortkit study` writes next to its database; `ortkit report` reads its scenarios
STUDY_FILE = "study.toml"


def report_database(db: str | Path, out_dir: str | Path, *, environment: str | None = None,
                    families: Mapping[str, str] | None = None) -> ReportPaths:
    """`ortkit report`: read the results database ``db`` (read-only) and write its report (the
    verdict answers the scenarios of the ``study.toml`` beside the database, when there is one).

    Args:
        environment: only the results of this environment (a key or a unique key prefix).
        families: model label -> family (rnn, cnn, hybrid), for models whose files did not say.

    Raises:
        StoreError: the database is missing, foreign, of a newer schema, or holds no results.
        OrtkitError: the report cannot be written.
    """
    from ortkit.report._reportdata import assign_families, load_dataset
    from ortkit.profiler import StoreError

    dataset = load_dataset(db, environment=environment)
    if families:
        dataset = assign_families(dataset, families)
    if not dataset.rows:
        what = f" of environment {environment}" if environment else ""
        damaged = f" ({len(dataset.damaged)} unreadable row(s))" if dataset.damaged else ""
        raise StoreError(f"{db} holds no results{what}{damaged}: measure something first (ortkit profile, ortkit sweep or ortkit study)")
    folder = Path(db).parent
    return write_report(dataset, out_dir, scenarios=load_scenarios(folder / STUDY_FILE), claims=load_claims(folder / CLAIMS_FILE),
                        ceilings=load_ceilings(folder / CEILING_FILE) or None)


def write_report(dataset: Dataset, out_dir: str | Path, name: str = "report", *, scenarios: Sequence[Scenario] = (),
                 claims: Sequence[ClaimRun] = (), ceilings: dict[str, Ceiling] | None = None) -> ReportPaths:
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
    report = build_report(dataset, scenarios=scenarios, claims=claims, ceilings=ceilings)
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
