from __future__ import annotations

import json

import click

from ortkit.cli._options import deprecated, forward_to_target, merge, model_file, one_session_ep


@click.command("run")
@click.argument("model", type=click.Path())
@click.option("--input", "-i", "inputs", multiple=True, metavar="NAME=PATH.npy|random",
              help="An input from a .npy file or random data; inputs not given are random.")
@click.option("--shape", "-s", "shapes", multiple=True, metavar="NAME=D0,D1,...|SYMBOL=N",
              help="Shape of a random input, or the size of a symbolic dim such as time=100.")
@click.option("--ep", "providers", default="auto", show_default=True, metavar="SPEC",
              help="Execution provider spec (auto, cpu, cuda:0, openvino:CPU, tensorrt, a plugin NAME...); "
                   "several joined by '+' share the session in that order: cuda+cpu.")
@click.option("--ep-library", "ep_library", multiple=True, metavar="NAME=PATH", help="Register a plugin EP library; NAME becomes an EP spec.")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N", help="Intra-op threads (default: onnxruntime's).")
@click.option("--tuned", default=None, type=click.Path(dir_okay=False), metavar="PROFILE.json",
              help="Run with a tuned profile from `ortkit tune` (its EP, threads, settings and precision for --shape batch=/time=).")
@click.option("--target", default=None, metavar="NAME", help="Run in a target from `ortkit target list` (another onnxruntime).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, metavar="PATH", help="Write the outputs to this .npz file.")
@click.option("--output", "-o", "old_out", hidden=True, type=click.Path(dir_okay=False), callback=deprecated("--output/-o", "--out"))
@click.option("--print", "show", is_flag=True, help="Print a short summary of each output's values (min, max, mean, first values).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed for random inputs.")
@click.option("--cast", is_flag=True, help="Convert inputs of another dtype instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary (and with --print the values' summary) as JSON.")
@click.pass_context
def command(ctx: click.Context, model: str, inputs: tuple[str, ...], shapes: tuple[str, ...], providers: str, ep_library: tuple[str, ...],
            threads: int | None, tuned: str | None, target: str | None, out: str | None, old_out: str | None, show: bool, seed: int, cast: bool,
            as_json: bool) -> None:
    """Run the ONNX MODEL (a file or an export folder) on inputs from .npy files or random data.

    onnxruntime runs in a child process, so a model that makes it abort is an error, not a crash."""
    if target is not None:
        forward_to_target(ctx, target)
    from ortkit.runtime import parse_ep_libraries, run_model_files

    summary = run_model_files(model_file(model), inputs, shapes, one_session_ep(providers), merge(out, old_out, "--out"), seed=seed, cast=cast,
                              ep_library=parse_ep_libraries(ep_library), threads=threads, keep_values=show, isolate=True,
                              tuned=tuned)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    for line in summary.lines():
        click.echo(line)
