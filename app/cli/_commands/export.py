from __future__ import annotations

import json

import click

from ortkit.cli._options import best_ep, deprecated

_HELP = """Export SOURCE to ONNX, verify it against PyTorch, and write model.onnx + export.json.

\b
SOURCE is one of:
  a zoo name            lstm, gru, tcn... (`ortkit models`); random weights unless --checkpoint
  a checkpoint folder   written by `ortkit train` (model.safetensors + manifest.json)
  FILE.py:FACTORY       a function in your file that returns a torch.nn.Module
  pkg.module:FACTORY    the same, from an importable module
A user model (FILE.py:FACTORY, pkg.module:FACTORY) needs one --input-spec per forward() argument, in
order: NAME:DTYPE:DIMS with DIMS integers or symbolic names (batch, time, or any name such as H).

\b
Examples:
  ortkit export lstm --out out/lstm
  ortkit export runs/lstm --out out/lstm --fp16 --int8 dynamic --streaming
  ortkit export net.py:build --input-spec x:float32:batch,time,64 --checkpoint w.safetensors --out out/net
  ortkit export net.py:cnn --input-spec x:float32:batch,3,H,W --out out/cnn

The file is checked at several shapes (time=1, other times and batches, 4x the example time);
on failure nothing is written, a table of what failed goes to stderr, and the exit code is 1.
"""


@click.command("export", help=_HELP, short_help="Export a model to ONNX and verify it against PyTorch.")
@click.argument("source")
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="PATH", help="Folder for model.onnx, export.json and variants (created).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="State dict for a zoo name or factory: safetensors, or a torch file (read with weights_only=True).")
@click.option("--input-spec", "inputs", multiple=True, metavar="NAME:DTYPE:DIMS", help="Input of a user model, repeat per forward() argument, e.g. x:float32:batch,time,64.")
@click.option("--input", "old_inputs", multiple=True, hidden=True, callback=deprecated("export --input NAME:DTYPE:DIMS", "--input-spec"))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Zoo model hyperparameter, e.g. hidden_size=32.")
@click.option("--exporter", type=click.Choice(["auto", "torchscript", "dynamo"]), default="auto", show_default=True,
              help="auto: TorchScript, then dynamo, keeping the first file that verifies.")
@click.option("--opset", type=click.IntRange(13, 21), default=18, show_default=True, help="ONNX opset.")
@click.option("--fp16", is_flag=True, help="Also write model.fp16.onnx (verified at fp16 tolerance).")
@click.option("--fp32-io", is_flag=True, help="With --fp16: keep float32 inputs and outputs.")
@click.option("--int8", type=click.Choice(["dynamic", "static"]), help="Also write model.int8-<mode>.onnx; static needs task data (--task).")
@click.option("--calibration", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax", show_default=True,
              help="Calibration method of --int8 static.")
@click.option("--task", help="Task for --int8 static calibration and before/after metrics (default: the checkpoint's).")
@click.option("--optimize", type=click.Choice(["basic", "extended", "all"]), help="Also write an onnxruntime offline-optimized model for --ep.")
@click.option("--ep", default="auto", show_default=True, metavar="SPEC", help="Execution provider the --optimize model is for (auto: the best one installed).")
@click.option("--streaming", is_flag=True, help="Also write model.streaming.onnx (step model with explicit state; causal models only).")
@click.option("--example-time", type=click.IntRange(2, 4096), default=16, show_default=True,
              help="Example length traced (and size of other named dims); parity also runs other lengths.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random weights.")
@click.option("--json", "as_json", is_flag=True, help="Print export.json instead of the summary.")
def command(source: str, out: str, checkpoint: str | None, inputs: tuple[str, ...], old_inputs: tuple[str, ...], sets: tuple[str, ...], exporter: str,
            opset: int, fp16: bool, fp32_io: bool, int8: str | None, calibration: str, task: str | None,
            optimize: str | None, ep: str, streaming: bool, example_time: int, seed: int, as_json: bool) -> None:
    from ortkit.base import OrtkitError
    from ortkit.exporter import VerificationFailed, export
    from ortkit.cli._options import parse_assignments
    from ortkit.exporter import render_result, short_error

    try:
        result = export(source, out, checkpoint=checkpoint, inputs=inputs + old_inputs, overrides=parse_assignments(sets, "--set"),
                        exporter=exporter, opset=opset, fp16=fp16, fp16_io="fp32" if fp32_io else "fp16", int8=int8,
                        calibration=calibration, task=task, optimize=optimize, optimize_ep=best_ep() if ep == "auto" else ep, streaming=streaming,
                        example_time=example_time, seed=seed)
    except VerificationFailed as error:
        click.echo(error.table, err=True)
        raise short_error(error) from None
    except OrtkitError as error:
        raise short_error(error) from None
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else render_result(result))
