from __future__ import annotations

import json

import click


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--ep", "providers", default="auto", show_default=True, metavar="SPEC",
              help="Execution provider (or a preference list: cuda,cpu) whose node assignment to show.")
@click.option("--shape", "-s", "shapes", multiple=True, metavar="NAME=D0,D1,...|SYMBOL=N",
              help="Input shape (or symbolic dim size) at which to count FLOPs.")
@click.option("--ep-library", "ep_library", multiple=True, metavar="NAME=PATH", help="Register a plugin EP library; NAME becomes an EP spec.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(model: str, providers: str, shapes: tuple[str, ...], ep_library: tuple[str, ...], as_json: bool) -> None:
    """Describe an ONNX model: signature, ops, FLOPs, EP assignment."""
    from ortkit.runtime import inspect_model, parse_ep_libraries
    from ortkit.runtime import parse_providers, parse_shapes

    report = inspect_model(model, parse_providers(providers), parse_shapes(shapes) or None, ep_library=parse_ep_libraries(ep_library),
                           isolate=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    for line in report.lines():
        click.echo(line)
