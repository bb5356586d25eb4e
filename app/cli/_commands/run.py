from __future__ import annotations

import click


@click.command("run")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "inputs", multiple=True, metavar="NAME=PATH.npy|random",
              help="An input from a .npy file or random data; inputs not given are random.")
@click.option("--shape", "-s", "shapes", multiple=True, metavar="NAME=D0,D1,...|SYMBOL=N",
              help="Shape of a random input, or the size of a symbolic dim such as time=100.")
@click.option("--ep", "providers", default="auto", show_default=True, metavar="SPEC",
              help="Execution provider spec (auto, cpu, cuda:0, openvino:CPU, tensorrt, ...) or a preference list: cuda,cpu.")
@click.option("--ep-library", "ep_library", multiple=True, metavar="NAME=PATH", help="Register a plugin EP library; NAME becomes an EP spec.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the outputs to this .npz file.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed for random inputs.")
@click.option("--cast", is_flag=True, help="Convert inputs of another dtype instead of failing.")
def command(model: str, inputs: tuple[str, ...], shapes: tuple[str, ...], providers: str, ep_library: tuple[str, ...], output: str | None, seed: int, cast: bool) -> None:
    """Run an ONNX model on inputs from .npy files or random data.

    onnxruntime runs in a child process, so a model that makes it abort is an error, not a crash."""
    from ortkit.runtime import parse_ep_libraries
    from ortkit.runtime import run_model_files

    libraries = parse_ep_libraries(ep_library)
    summary = run_model_files(model, inputs, shapes, providers, output, seed=seed, cast=cast, ep_library=libraries,
                              isolate=True)
    for line in summary.lines():
        click.echo(line)
