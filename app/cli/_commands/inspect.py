from __future__ import annotations

import json

import click

from ortkit.cli._options import forward_to_target, model_file, one_session_ep


@click.command("inspect")
@click.argument("model", type=click.Path())
@click.option("--ep", "providers", default="auto", show_default=True, metavar="SPEC",
              help="Execution provider whose node assignment to show (several joined by '+' share the session: cuda+cpu).")
@click.option("--shape", "-s", "shapes", multiple=True, metavar="NAME=D0,D1,...|SYMBOL=N",
              help="Input shape (or symbolic dim size) at which to count FLOPs.")
@click.option("--ep-library", "ep_library", multiple=True, metavar="NAME=PATH", help="Register a plugin EP library; NAME becomes an EP spec.")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N", help="Intra-op threads (default: onnxruntime's); no effect on the report.")
@click.option("--target", default=None, metavar="NAME", help="Inspect in a target from `ortkit target list` (another onnxruntime).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def command(ctx: click.Context, model: str, providers: str, shapes: tuple[str, ...], ep_library: tuple[str, ...], threads: int | None,
            target: str | None, as_json: bool) -> None:
    """Describe the ONNX MODEL (a file or an export folder): signature, ops, FLOPs, EP assignment."""
    if target is not None:
        forward_to_target(ctx, target)
    from ortkit.runtime import inspect_model, parse_ep_libraries, parse_providers, parse_shapes

    report = inspect_model(model_file(model), parse_providers(one_session_ep(providers)), parse_shapes(shapes) or None,
                           ep_library=parse_ep_libraries(ep_library), isolate=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    for line in report.lines():
        click.echo(line)
