from __future__ import annotations

from pathlib import Path

import click

from ortkit.cli._options import best_ep


@click.command("profile")
@click.argument("models", nargs=-1, required=True)
@click.option("--ep", default="auto", show_default=True, metavar="SPEC,SPEC...",
              help="EP specs, comma-separated, one configuration each (cpu,openvino,cuda:0). auto: the target's EP, else the best one installed.")
@click.option("--batch", default="1", show_default=True, help="Batch sizes, comma-separated.")
@click.option("--time", "time_", default=None, help="Sequence lengths, comma-separated (models with a time axis).")
@click.option("--threads", default="default", show_default=True, metavar="N,N...", help="Intra-op thread counts ('default': onnxruntime's).")
@click.option("--concurrency", default="1", show_default=True, help="Client threads on one session, comma-separated.")
@click.option("--chunk", default=None, help="Streaming chunk lengths (streaming exports only).")
@click.option("--baseline", default=None, help="PyTorch baselines: torch (eager), torch-compile.")
@click.option("--baseline-source", default=None, metavar="FILE.py:FACTORY",
              help="The PyTorch module of the (one) model, where its export does not record it (ortkit exports do).")
@click.option("--tuned", default=None, type=click.Path(dir_okay=False), metavar="PROFILE.json",
              help="Measure each shape with a tuned profile's choice from `ortkit tune` (EP, threads, settings, precision); rows are tagged tuned.")
@click.option("--db", default="ortkit-results.db", show_default=True, type=click.Path(), metavar="PATH", help="SQLite results file.")
@click.option("--python", "python", default=None, type=click.Path(dir_okay=False), help="Interpreter for the workers (another onnxruntime).")
@click.option("--target", default=None, metavar="NAME", help="A target from `ortkit target list`: its interpreter runs the workers.")
@click.option("--ep-library", "ep_library", multiple=True, metavar="NAME=PATH", help="Register a plugin EP library; NAME becomes an EP spec.")
@click.option("--op-profile", is_flag=True, help="Record per-op-type time shares from onnxruntime's profiler.")
@click.option("--max-time", default=2.0, show_default=True, help="Seconds of measuring per configuration at most.")
@click.option("--processes", default=3, show_default=True, type=click.IntRange(1, 100), help="Fresh worker processes per configuration; their samples are pooled.")
@click.option("--mode", type=click.Choice(["auto", "isolated", "interleaved"]), default="auto", show_default=True,
              help="interleaved: configurations of one shape measured side by side in rounds; isolated: one after another; "
                   "auto: interleaved when there is more than one configuration.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds before a worker is killed as hung.")
@click.option("--force", is_flag=True, help="Measure again what the database already holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def command(ctx, models, ep, batch, time_, threads, concurrency, chunk, baseline, baseline_source, tuned, db, python, target, ep_library, op_profile, max_time, processes, mode, timeout, force, as_json) -> None:  # type: ignore[no-untyped-def]
    """Measure latency, throughput and memory of MODEL... (.onnx files or zoo names) over a grid.

    Exit status: 0 when every configuration was measured, skipped or unavailable; 4 when some
    failed (crashed, hung or raised: listed in the summary and stored; a rerun retries them)."""
    from ortkit.base import UsageError
    from ortkit.profiler import Budget, profile
    from ortkit.cli._console import print_summary, progress_bar, summary_json
    from ortkit.profiler import FAILED_EXIT_CODE, parse_list, worker_target
    from ortkit.runtime import parse_ep_libraries
    from ortkit.study import resolve_models

    if tuned is not None and (ep != "auto" or threads != "default"):
        raise UsageError("--tuned sets the EP and the threads of each configuration; do not pass --ep or --threads with it")
    python, default_ep, tags = worker_target(python, target)
    if ep == "auto":
        ep = default_ep if target or python else best_ep()
    sources = resolve_models(models, Path(db).resolve().parent / "ortkit-exports")
    with progress_bar(enabled=not as_json) as callback:
        summary = profile(
            sources, parse_list(ep, str), parse_list(batch), parse_list(time_) or [None],
            parse_list(threads, int, allow_default=True) or [None], concurrency=parse_list(concurrency),
            chunks=parse_list(chunk) or [None], baseline=parse_list(baseline, str), db=db, python=python, tags=tags, ep_library=parse_ep_libraries(ep_library),
            op_profile=op_profile, force=force, budget=Budget(max_time_s=max_time, processes=processes), timeout=timeout, progress=callback,
            baseline_source=baseline_source, mode=mode, tuned=tuned,
        )
    click.echo(summary_json(summary)) if as_json else print_summary(summary)
    if summary.count("failed"):
        ctx.exit(FAILED_EXIT_CODE)  # every result is stored; a rerun retries only the failed ones
