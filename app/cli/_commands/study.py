from __future__ import annotations

import json

import click


@click.command("study")
@click.option("--quick", is_flag=True, help="The small study: one task, three models, four lengths (about 5 minutes on 2 cores).")
@click.option("--plan", "plan_file", default=None, type=click.Path(dir_okay=False),
              help="A study file (TOML: tasks, grid, budget, deployment scenarios; see docs/study.md) instead of the built-in plans.")
@click.option("--out", "out", metavar="PATH", default="study-out", show_default=True, type=click.Path(file_okay=False), help="Output folder (database, report, cache).")
@click.option("--force", is_flag=True, help="Measure again what the database already holds (trained models and exports stay cached).")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS", help="Measure on the nodes of this Ray cluster (docs/fleet.md).")
@click.option("--node", "nodes", multiple=True, metavar="KIND", help="With --ray: a node kind to measure on (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts, the duration and the report's paths as JSON.")
def command(quick: bool, plan_file: str | None, out: str, force: bool, ray_address: str | None, nodes: tuple[str, ...], as_json: bool) -> None:
    """Train, export, verify, profile and report the RNN-vs-CNN study (resumable)."""
    from ortkit.base import UsageError
    from ortkit.profiler import FAILED_EXIT_CODE
    from ortkit.study import console_progress, load_plan, run_study

    if quick and plan_file:
        raise UsageError("--quick and --plan exclude each other: a study file says how big it is")
    plan = load_plan(plan_file) if plan_file else None
    log, progress = console_progress()
    options = {}
    if ray_address is not None or nodes:
        from ortkit.fleet import FleetMeasure, study_targets

        options = dict(targets=study_targets(ray_address, nodes), measure=FleetMeasure(ray_address))
    result = run_study(out, quick=quick, plan=plan, force=force, log=log, progress=progress, **options)
    if as_json:
        click.echo(json.dumps({"db": str(result.db), "seconds": result.seconds, "counts": dict(result.counts),
                               "html": str(result.report.html), "markdown": str(result.report.markdown)}, indent=2))
    else:
        counts = ", ".join(f"{n} {s}" for s, n in result.counts.items() if n)
        click.echo(f"study finished in {result.seconds / 60:.1f} min ({counts}): {result.report.html} and {result.report.markdown}")
    if result.counts.get("failed"):
        # As `ortkit profile`: the report is written, but a script must see that numbers are missing.
        click.echo(f"{result.counts['failed']} configuration(s) failed: the report lists them under 'Unstable, skipped and "
                   "failed configurations'; run the same command again to retry them", err=True)
        raise SystemExit(FAILED_EXIT_CODE)
