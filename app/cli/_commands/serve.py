from __future__ import annotations

import json

import click


@click.command("serve")
@click.argument("models", nargs=-1, required=True, metavar="MODEL.onnx|NAME=MODEL.onnx...")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(min=1),
              help="Most rows one batched run holds; 1 turns dynamic batching off.")
@click.option("--max-delay-ms", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="How long a queued request waits for others to join its batch.")
@click.option("--instances", default=1, show_default=True, type=click.IntRange(min=1),
              help="Runs of one model that may execute at once.")
@click.option("--threads", default=None, type=click.IntRange(min=1), metavar="N", help="onnxruntime intra-op threads per session (default: all cores).")
@click.option("--ep", "providers", default="auto", show_default=True, metavar="SPEC", help="Execution provider spec for every model.")
@click.option("--tuned", multiple=True, type=click.Path(dir_okay=False), metavar="PROFILE.json",
              help="A tuned profile from `ortkit tune`; the served model it was tuned for runs its choice for --max-batch (repeatable).")
@click.option("--max-streams", default=64, show_default=True, type=click.IntRange(min=1), help="Most streaming sessions open at once.")
@click.option("--stream-idle-s", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Close a streaming session after this many seconds without a chunk.")
@click.option("--json", "as_json", is_flag=True, help="Print what is served (url, models, EPs) as one JSON line when ready.")
def command(models: tuple[str, ...], host: str, port: int, max_batch: int, max_delay_ms: float, instances: int,
            threads: int | None, providers: str, tuned: tuple[str, ...], max_streams: int, stream_idle_s: float, as_json: bool) -> None:
    """Serve ONNX models over the Open Inference Protocol (KServe v2 REST), with dynamic batching,
    WebSocket streaming sessions and Prometheus metrics."""
    from ortkit.base import UsageError
    from ortkit.serve import ServeOptions, serve_forever

    if tuned and (providers != "auto" or threads is not None):
        raise UsageError("--tuned sets the EP and the threads of its model; do not pass --ep or --threads with it")
    options = ServeOptions(max_batch=max_batch, max_delay_ms=max_delay_ms, instances=instances, threads=threads,
                           providers=providers, max_streams=max_streams, stream_idle_s=stream_idle_s,
                           tuned=tuned)
    ready = (lambda info: click.echo(json.dumps(info), nl=True)) if as_json else None
    serve_forever(models, options, host=host, port=port, announce=lambda line: click.echo(line, err=as_json), ready=ready)
