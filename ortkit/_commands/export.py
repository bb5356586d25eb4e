from __future__ import annotations

import json

import click


@click.command("export")
@click.argument("source")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for model.onnx and export.json.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="State dict (safetensors or torch) for a zoo name or factory.")
@click.option("--input", "inputs", multiple=True, metavar="NAME:DTYPE:DIMS", help="Input of a user model, e.g. x:float32:batch,time,64.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Zoo model hyperparameter, e.g. hidden_size=32.")
@click.option("--exporter", type=click.Choice(["auto", "torchscript", "dynamo"]), default="auto", show_default=True)
@click.option("--opset", type=int, default=18, show_default=True)
@click.option("--fp16", is_flag=True, help="Also write model.fp16.onnx.")
@click.option("--fp32-io", is_flag=True, help="With --fp16: keep float32 inputs and outputs.")
@click.option("--int8", type=click.Choice(["dynamic", "static"]), help="Also write an int8 model.")
@click.option("--calibration", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax", show_default=True)
@click.option("--task", help="Task for calibration and before/after metrics (default: the checkpoint's).")
@click.option("--optimize", type=click.Choice(["basic", "extended", "all"]), help="Also write an offline-optimized model.")
@click.option("--ep", default="cpu", show_default=True, help="Execution provider the --optimize model is for.")
@click.option("--streaming", is_flag=True, help="Also write model.streaming.onnx (step model with state).")
@click.option("--example-time", type=click.IntRange(min=2), default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random weights.")
@click.option("--json", "as_json", is_flag=True, help="Print export.json instead of the summary.")
def command(source: str, out: str, checkpoint: str | None, inputs: tuple[str, ...], sets: tuple[str, ...], exporter: str,
            opset: int, fp16: bool, fp32_io: bool, int8: str | None, calibration: str, task: str | None,
            optimize: str | None, ep: str, streaming: bool, example_time: int, seed: int, as_json: bool) -> None:
    """Export SOURCE (zoo name, checkpoint folder, FILE.py:FACTORY, pkg.mod:FACTORY) to verified ONNX."""
    from ortkit.exporter import VerificationFailed, export
    from ortkit.exporter._render import parse_overrides, render_result

    try:
        result = export(source, out, checkpoint=checkpoint, inputs=inputs, overrides=parse_overrides(sets),
                        exporter=exporter, opset=opset, fp16=fp16, fp16_io="fp32" if fp32_io else "fp16", int8=int8,
                        calibration=calibration, task=task, optimize=optimize, optimize_ep=ep, streaming=streaming,
                        example_time=example_time, seed=seed)
    except VerificationFailed as error:
        click.echo(error.table, err=True)
        raise
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else render_result(result))
