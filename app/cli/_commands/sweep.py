from __future__ import annotations

import json

import click


@click.command("sweep")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--db", default=None, metavar="PATH", type=click.Path(dir_okay=False), help="Results database (default: the file's `db`, else FILE.db).")
@click.option("--report", "report", default=None, type=click.Path(file_okay=False), help="Also write the report into this folder.")
@click.option("--force", is_flag=True, help="Measure again what the database already holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts per status, the database and the report as JSON.")
@click.pass_context
def command(ctx: click.Context, file: str, db: str | None, report: str | None, force: bool, as_json: bool) -> None:
    """Run the profiling sweep described by the TOML FILE (resumable; see docs/study.md).

    Exit status 4 when some configurations failed (stored and listed; a rerun retries them)."""
    from ortkit.study import console_progress
    from ortkit.profiler import FAILED_EXIT_CODE
    from ortkit.study import load_sweep, run_sweep

    log, progress = console_progress()
    run = run_sweep(load_sweep(file), db=db, report=report, force=force, log=log, progress=progress)
    if as_json:
        click.echo(json.dumps({"db": str(run.db), "report": str(run.report.html) if run.report else None,
                               "counts": {s: run.count(s) for s in ("ok", "failed", "skipped", "unavailable")}}, indent=2))
    else:
        counts = ", ".join(f"{run.count(s)} {s}" for s in ("ok", "failed", "skipped", "unavailable") if run.count(s))
        click.echo(f"{run.db}: {counts or 'nothing measured'}" + (f"; report {run.report.html}" if run.report else ""))
    if run.count("failed"):
        ctx.exit(FAILED_EXIT_CODE)
