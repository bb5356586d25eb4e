from __future__ import annotations

import click


@click.command("report")
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--out", "out", default="report", show_default=True, type=click.Path(file_okay=False), help="Folder for report.md, report.html and figures/.")
@click.option("--env", "environment", default=None, help="Only the results of this environment (a key or key prefix, see `ortkit env`).")
def command(db: str, out: str, environment: str | None) -> None:
    """Write a Markdown and a self-contained HTML report from the results database DB."""
    from ortkit.report import report_database

    paths = report_database(db, out, environment=environment)
    click.echo(f"wrote {paths.markdown} and {paths.html} ({len(paths.figures)} figures)")
