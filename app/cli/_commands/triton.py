from __future__ import annotations

import json

import click


@click.command("triton")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("repository", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Model name in the repository (default: the export label).")
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(min=0), help="max_batch_size; 0 turns batching off.")
@click.option("--max-delay-us", default=100, show_default=True, type=click.IntRange(min=0), help="max_queue_delay_microseconds.")
@click.option("--instances", default=1, show_default=True, type=click.IntRange(min=1), help="instance_group count.")
@click.option("--threads", default=None, type=click.IntRange(min=1), metavar="N", help="intra_op_thread_count per instance (default: 1).")
@click.option("--tuned", default=None, type=click.Path(dir_okay=False), metavar="PROFILE.json",
              help="A tuned profile from `ortkit tune`: its choice for --max-batch sets the session parameters, EP and model file.")
@click.option("--gpu", is_flag=True, help="Place the instances on GPUs (KIND_GPU) instead of CPUs.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def command(model: str, repository: str, name: str | None, max_batch: int, max_delay_us: int, instances: int,
            threads: int | None, tuned: str | None, gpu: bool, as_json: bool) -> None:
    """Write a Triton Inference Server model repository (onnxruntime backend) for an ONNX model."""
    from ortkit.base import UsageError
    from ortkit.serve import TritonOptions, oversubscription, write_triton_repository

    if tuned is not None and threads is not None:
        raise UsageError("--tuned sets the threads; do not pass --threads with it")
    options = TritonOptions(max_batch=max_batch, max_delay_us=max_delay_us, instances=instances, threads=threads or 1,
                            kind="KIND_GPU" if gpu else "KIND_CPU", tuned=tuned)
    written = write_triton_repository(model, repository, name=name, options=options)
    for line in written.not_carried:
        click.echo(f"warning: {line}", err=True)
    kind = "sequence batching with implicit state" if written.streaming else (
        "dynamic batching" if written.max_batch else "no batching")
    used = written.tuned.settings.threads if written.tuned is not None else options.threads
    advice = None if gpu else oversubscription(instances, used)
    if advice:
        click.echo(f"warning: {advice}", err=True)
    if as_json:
        click.echo(json.dumps({"config": str(written.config), "model": str(written.model), "batching": kind,
                               "max_batch_size": written.max_batch, "repository": str(repository),
                               "tuned": written.tuned.describe() if written.tuned is not None else None}, indent=2))
        return
    click.echo(f"wrote {written.config} and {written.model} ({kind}, max_batch_size {written.max_batch})")
    if written.tuned is not None:
        click.echo(f"tuned: {written.tuned.describe()}")
    click.echo(f"start it: tritonserver --model-repository {repository}")
