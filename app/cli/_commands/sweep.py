from __future__ import annotations

import json

import click


@click.command("sweep")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--db", default=None, metavar="PATH", type=click.Path(dir_okay=False), help="Results database (default: the file's `db`, else FILE.db).")
@click.option("--report", "report", default=None, type=click.Path(file_okay=False), help="Also write the report into this folder.")
@click.option("--force", is_flag=True, help="Measure again what the database already holds.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Measure on the nodes of this Ray cluster (HOST:6379 or auto); each target names its node kind (docs/fleet.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts per status, the database and the report as JSON.")
@click.pass_context
def command(ctx: click.Context, file: str, db: str | None, report: str | None, force: bool, ray_address: str | None, as_json: bool) -> None:
    """Run the profiling sweep described by the TOML FILE (resumable; see docs/study.md).

    Exit status 4 when some configurations failed or, with --ray, were not measured (stored and
    listed; a rerun retries them)."""
    from ortkit.study import console_progress
    from ortkit.profiler import FAILED_EXIT_CODE
    from ortkit.study import load_sweep, run_sweep

    log, progress = console_progress()
    sweep = load_sweep(file)
    if ray_address is None:
        run = run_sweep(sweep, db=db, report=report, force=force, log=log, progress=progress)
    else:
        from ortkit.fleet import run_fleet_sweep

        run = run_fleet_sweep(sweep, ray_address, db=db, report=report, force=force, log=log, progress=progress)
    incomplete = [line for summary in run.summaries for line in getattr(summary, "lines", lambda: [])()]
    if as_json:
        click.echo(json.dumps({"db": str(run.db), "report": str(run.report.html) if run.report else None,
                               "counts": {s: run.count(s) for s in ("ok", "failed", "skipped", "unavailable")},
                               "not_measured": incomplete}, indent=2))
    else:
        counts = ", ".join(f"{run.count(s)} {s}" for s in ("ok", "failed", "skipped", "unavailable") if run.count(s))
        click.echo(f"{run.db}: {counts or 'nothing measured'}" + (f"; report {run.report.html}" if run.report else ""))
        for line in incomplete:
            click.echo(line)
    if run.count("failed") or not all(getattr(summary, "complete", True) for summary in run.summaries):
        ctx.exit(FAILED_EXIT_CODE)
