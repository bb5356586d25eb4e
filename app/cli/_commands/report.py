from __future__ import annotations

import json

import click


@click.command("report")
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--out", "out", metavar="PATH", default="report", show_default=True, type=click.Path(file_okay=False), help="Folder for report.md, report.html and figures/.")
@click.option("--env", "environment", default=None, help="Only the results of this environment (a key or key prefix, see `ortkit env`).")
@click.option("--family", "families", multiple=True, metavar="MODEL=FAMILY",
              help="A model's family (rnn, cnn, hybrid) where its file does not say (ortkit exports do), e.g. mynet=rnn.")
@click.option("--json", "as_json", is_flag=True, help="Print the written paths as JSON.")
def command(db: str, out: str, environment: str | None, families: tuple[str, ...], as_json: bool) -> None:
    """Write a Markdown and a self-contained HTML report from the results database DB."""
    from ortkit.cli._options import parse_assignments
    from ortkit.report import report_database

    family_map = {k: str(v) for k, v in parse_assignments(families, "--family").items()}
    paths = report_database(db, out, environment=environment, families=family_map)
    if as_json:
        click.echo(json.dumps({"markdown": str(paths.markdown), "html": str(paths.html), "figures": [str(f) for f in paths.figures]}, indent=2))
        return
    click.echo(f"wrote {paths.markdown} and {paths.html} ({len(paths.figures)} figures)")
