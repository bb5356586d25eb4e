from __future__ import annotations

import click


@click.command("tune")
@click.argument("model", type=click.Path())
@click.option("--ep", default="auto", show_default=True, metavar="SPEC",
              help="The EP to tune for (cpu, openvino, cuda:0...). auto: the target's EP, else the best one installed.")
@click.option("--target", default=None, metavar="NAME", help="A target from `ortkit target list`: its interpreter runs the workers.")
@click.option("--python", "python", default=None, type=click.Path(dir_okay=False), help="Interpreter for the workers (another onnxruntime).")
@click.option("--batch", default="1", show_default=True, help="Batch sizes the profile must serve, comma-separated.")
@click.option("--time", "time_", default=None, help="Sequence lengths, comma-separated (models with a time axis).")
@click.option("--precision", default="fp32,fp16,int8-dynamic,int8-static", show_default=True,
              help="Precision variants that may race (found next to the model, made by `ortkit export`).")
@click.option("--max-metric-drop", default=0.01, show_default=True, type=click.FloatRange(0.0),
              help="Largest task-metric drop a precision variant may cost (trained zoo checkpoints; else output tolerance).")
@click.option("--budget-s", default=120.0, show_default=True, type=click.FloatRange(1.0, 86400.0),
              help="Seconds after which no new race stage starts (each winner is still confirmed).")
@click.option("--no-knobs", is_flag=True, help="Race threads and precision only (not spinning, arena, optimisation, EP options).")
@click.option("--per-shape", is_flag=True, help="One choice per (batch, time) instead of per group of nearby lengths.")
@click.option("--db", default="ortkit-results.db", show_default=True, type=click.Path(), metavar="PATH", help="SQLite results file (a rerun resumes from it).")
@click.option("--json", "as_json", is_flag=True, help="Print the profile, each group's outcome and the timing as JSON.")
@click.option("--out", default=None, type=click.Path(), metavar="PATH", help="Profile file to write [default: MODEL.tuned.json].")
def command(model, ep, target, python, batch, time_, precision, max_metric_drop, budget_s, no_knobs, per_shape, db, as_json, out) -> None:  # type: ignore[no-untyped-def]
    """Find the fastest configuration of MODEL (an fp32 .onnx file or export folder) per shape
    group, confirmed against the default with a confidence interval, and write a tuned profile
    that `ortkit run/profile/serve --tuned PATH` and `Runtime(model, tuned=PATH)` load."""
    from ortkit.cli._options import best_ep
    from ortkit.profiler import parse_list, worker_target
    from ortkit.tune import tune_model

    python, default_ep, tags = worker_target(python, target)
    if ep == "auto":
        ep = default_ep if target or python else best_ep()
    result = tune_model(model, ep=ep, batches=parse_list(batch), times=parse_list(time_) or [None],
                        precisions=tuple(parse_list(precision, str)), max_metric_drop=max_metric_drop, budget_s=budget_s,
                        knobs=not no_knobs, per_shape=per_shape, db=db, out=out, python=python, tags=tags,
                        log=lambda line: None if as_json else click.echo(line, err=True))
    if as_json:
        import json

        outcomes = [{"shapes": [list(s) for s in o.group.shapes], "probe": list(o.group.probe), "choice": o.choice.describe(),
                     "winner": o.winner.describe(), "confident": o.confident, "note": o.note, "candidates": len(o.candidates),
                     "stages": o.stages, "measured": o.measured, "reused": o.reused,
                     "gain": None if o.gain is None else vars(o.gain)} for o in result.outcomes]
        precisions = [{"precision": c.precision, "allowed": c.allowed, "reason": c.reason} for c in result.precisions]
        click.echo(json.dumps({"profile": str(result.path), "db": result.db, "seconds": result.seconds, "outcomes": outcomes,
                               "precisions": precisions, "tuned": result.profile.to_dict()}, indent=2))
        return
    for outcome in result.outcomes:
        click.echo(f"{outcome.group.describe()}: {outcome.choice.describe()}")
        click.echo(f"  {outcome.note} ({len(outcome.candidates)} candidates, {outcome.stages} stages, "
                   f"{outcome.measured} measured, {outcome.reused} from the store)")
    click.echo(f"profile: {result.path} ({result.seconds:.0f} s; measurements in {result.db})")
