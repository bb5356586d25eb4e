"""`export()`: torch -> ONNX, verified at every shape, written atomically with its report.

Per exporter tried (``auto``: TorchScript first, then dynamo), the model is exported at the
example length and at a second length, and the first export is verified (see `_verify`). The
first exporter whose file passes is kept; the reasons the others failed are recorded. Nothing is
written to the output folder until everything (variants included) has passed: files are built in
a hidden temporary folder inside it and renamed into place at the end, ``export.json`` last.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence


from ortkit.base import UsageError
from ortkit.base import file_sha256
from ortkit.exporter._errors import ExportError, UnsupportedModel, VerificationFailed
from ortkit.exporter._input_specs import check_example_size
from ortkit.exporter._torch_export import export_one, summarise_export_error, torch_reference
from ortkit.exporter._result import SCHEMA_VERSION, Attempt, ExportResult, VariantResult, versions
from ortkit.exporter._sources import ModelSource, infer_spec, resolve_source
from ortkit.exporter._verify import (
    structural_report,
    TOLERANCES,
    Check,
    VerifyReport,
    has_time,
    inventory_checks,
    named_dims,
    op_inventory,
    parity_shapes,
    run_parity,
)
from ortkit.models import ModelSpec, TensorSpec

__all__ = ["export", "ExportResult", "Attempt", "VariantResult", "DEFAULT_OPSET", "EXPORTERS", "SCHEMA_VERSION"]

DEFAULT_OPSET = 18
EXPORTERS = ("auto", "torchscript", "dynamo")
MODEL_FILE = "model.onnx"
REPORT_FILE = "export.json"
MAX_EXAMPLE_TIME = 4096
# Files an export writes besides model.onnx and export.json; a new export removes those an
# earlier export left behind, so the folder never mixes two models.
_VARIANT_FILES = re.compile(r"^model\.(fp16|int8-dynamic|int8-static|streaming|optimized-[\w.-]+)\.onnx$")


def export(
    source: str | Any,
    out_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    inputs: Sequence[str | TensorSpec] | None = None,
    overrides: Mapping[str, Any] | None = None,
    exporter: str = "auto",
    opset: int = DEFAULT_OPSET,
    example_batch: int = 2,
    example_time: int = 16,
    fp16: bool = False,
    fp16_io: str = "fp16",
    int8: str | None = None,
    calibration: str = "minmax",
    task: str | None = None,
    optimize: str | None = None,
    optimize_ep: str = "cpu",
    streaming: bool = False,
    seed: int = 0,
    keep_going: bool = False,
) -> ExportResult:
    """Export a model to ONNX in ``out_dir``, verify it, and optionally derive variants.

    Args:
        source: a zoo name, an ortkit checkpoint folder, ``file.py:factory``,
            ``package.module:factory``, or a ``torch.nn.Module`` (with ``ortkit_spec`` or ``inputs``).
        out_dir: folder for ``model.onnx``, ``export.json`` and variant files (created).
        checkpoint: state dict (safetensors or torch file) for a zoo name or factory.
        inputs: input signature of a user model, ``NAME:DTYPE:DIM,...`` strings or TensorSpecs.
        overrides: hyperparameters of a zoo model (``{"hidden_size": 32}``).
        exporter: ``auto`` (TorchScript, then dynamo, keeping the first that verifies),
            ``torchscript`` or ``dynamo``.
        opset: ONNX opset (default 18).
        example_batch, example_time: the example shape traced (parity also runs other shapes).
        fp16: also write ``model.fp16.onnx``; ``fp16_io="fp32"`` keeps float32 inputs/outputs.
        int8: ``"dynamic"`` or ``"static"``: also write ``model.int8-<mode>.onnx``.
        calibration: static calibration method, ``minmax``, ``entropy`` or ``percentile``.
        task: task for calibration data and before/after metrics (default: the checkpoint's
            task, or the zoo model's preset).
        optimize: ``basic``, ``extended`` or ``all``: also write an onnxruntime offline-optimized
            model for ``optimize_ep`` (EP- and machine-specific).
        streaming: also write ``model.streaming.onnx``, a step model with explicit state.
        seed: torch seed for random weights.
        keep_going: a variant that fails verification is left out (listed, with the reason, in
            ``failed_variants`` and export.json) instead of failing the whole export. The fp32
            model must still verify.

    Returns:
        An `ExportResult` (also written as ``export.json``).

    Raises:
        VerificationFailed: no exporter produced a file that verifies (``error.table`` lists
            what failed); nothing that looks valid is left in ``out_dir``.
        UnsupportedModel: every exporter raised (the messages summarised).
        SourceError, UnsafeCheckpoint, StreamingUnsupported, UsageError: bad input.
    """
    _check_options(exporter, opset, example_batch, example_time, int8, fp16_io)
    if isinstance(inputs, (str, TensorSpec)):
        inputs = [inputs]
    out = Path(out_dir)
    _check_out_dir(out)
    if inputs and not isinstance(inputs, str):
        from ortkit.exporter._input_specs import parse_input_specs

        # before the model is probed with inputs of this signature
        check_example_size(parse_input_specs(inputs), example_batch, example_time)
    try:
        resolved = _resolve(source, checkpoint, inputs, overrides, seed, example_time)
    except MemoryError:
        raise ExportError(f"building {source!r} ran out of memory") from None
    check_example_size(resolved.spec.inputs, example_batch, example_time)
    _check_exportable(resolved)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".ortkit-export-", dir=out))
    except OSError as error:
        raise UsageError(f"cannot write to --out {str(out)!r}: {error.strerror or error}") from None
    try:
        result = _export_into(resolved, out, staging, exporter=exporter, opset=int(opset),
                              example=(example_batch, example_time), fp16=fp16, fp16_io=fp16_io,
                              int8=int8, calibration=calibration, task=task, optimize=optimize,
                              optimize_ep=optimize_ep, streaming=streaming, keep_going=keep_going)
    except MemoryError:
        raise ExportError(f"exporting {resolved.spec.name!r} ran out of memory; try a smaller --example-time") from None
    except OSError as error:
        raise ExportError(f"writing the export to {str(out)!r} failed: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed export leaves no trace, not even an empty folder
    return result


def _check_options(exporter: str, opset: int, example_batch: int, example_time: int, int8: str | None, fp16_io: str) -> None:
    """Options that can be refused before any model is built."""
    if exporter not in EXPORTERS:
        raise UsageError(f"exporter {exporter!r} is not one of {', '.join(EXPORTERS)}")
    if not 13 <= int(opset) <= 21:
        raise UsageError(f"opset {opset} is outside the supported range 13..21 (default {DEFAULT_OPSET})")
    if example_batch < 2 or example_time < 2:
        # Size 1 would be specialised by the tracers (and make batch/time indistinguishable).
        raise UsageError("example batch and time must be at least 2")
    if example_batch > 64 or example_time > MAX_EXAMPLE_TIME:
        raise UsageError(f"example batch {example_batch} / time {example_time} too large (at most 64 / {MAX_EXAMPLE_TIME}): "
                         "verification also runs at 4x the example time")
    if int8 not in (None, "dynamic", "static"):
        raise UsageError(f"int8 mode {int8!r} is not 'dynamic' or 'static'")
    if fp16_io not in ("fp16", "fp32"):
        raise UsageError(f"fp16 I/O {fp16_io!r} is not 'fp16' or 'fp32'")


def _check_out_dir(out: Path) -> None:
    """``--out`` must be a folder (or not exist yet) under a folder this process can write."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file, not a folder")
    parent = out
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder")
    import os

    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {str(out)!r}: {str(parent)!r} is not writable")


def _check_exportable(resolved: ModelSource) -> None:
    """Refuse up front what no exporter converts correctly, with the reason, instead of a page of
    exporter errors: ONNX's LSTM has no projection (``proj_size``), and torch 2.13's dynamo
    exporter writes a file that onnxruntime rejects."""
    import torch

    projected = [name or type(resolved.module).__name__ for name, m in resolved.module.named_modules()
                 if isinstance(m, torch.nn.LSTM) and int(getattr(m, "proj_size", 0) or 0) > 0]
    if projected:
        raise UnsupportedModel(
            f"cannot export {resolved.spec.name!r}: LSTM {', '.join(projected)} uses proj_size, which the ONNX LSTM op "
            "has no equivalent for (neither exporter converts it correctly); use proj_size=0 and a Linear layer"
        )


def _resolve(source: Any, checkpoint: Any, inputs: Any, overrides: Any, seed: int, example_time: int) -> ModelSource:
    if isinstance(source, str):
        return resolve_source(source, checkpoint=checkpoint, inputs=inputs, overrides=overrides, seed=seed,
                              example_time=example_time)
    import torch

    from ortkit.exporter._sources import (
        apply_state_dict,
        check_arity,
        integer_range,
        load_state_dict_file,
        parse_input_specs,
    )

    if not isinstance(source, torch.nn.Module):
        raise UsageError(f"source must be a string or a torch.nn.Module, not {type(source).__name__}")
    module = source.eval()
    if checkpoint is not None:
        apply_state_dict(module, load_state_dict_file(checkpoint), checkpoint)
    spec = getattr(module, "ortkit_spec", None)
    if not isinstance(spec, ModelSpec):
        if not inputs:
            raise UsageError("a module without ortkit_spec needs inputs=['x:float32:batch,time,F', ...]")
        specs = parse_input_specs(inputs)
        check_arity(module, specs, type(module).__name__)
        spec = infer_spec(module, type(module).__name__.lower(), specs, example_time)
    return ModelSource(module=module, spec=spec, origin="module", label=type(module).__name__,
                       trained=checkpoint is not None, task=None, int_high=integer_range(module))


def _inventory(path: Path) -> Any:
    import onnx

    return op_inventory(onnx.load(str(path), load_external_data=False))


def _verify_base(resolved: ModelSource, path: Path, example: tuple[int, int], label: str) -> VerifyReport:
    spec = resolved.spec
    report = structural_report(path, spec, label)
    shapes = parity_shapes(spec.inputs, *example)
    report.parity = run_parity(path, torch_reference(resolved.module, spec), spec.inputs, shapes, TOLERANCES["fp32"],
                               int_high=resolved.int_high)
    return report


def _try_exporters(resolved: ModelSource, staging: Path, exporter: str, opset: int, example: tuple[int, int]) -> tuple[str, Path, VerifyReport, list[Attempt]]:
    order = ["torchscript", "dynamo"] if exporter == "auto" else [exporter]
    attempts: list[Attempt] = []
    batch, time = example
    other_time = 2 * time + 3
    timed = has_time(resolved.spec.inputs) or bool(named_dims(resolved.spec.inputs))
    for kind in order:
        path = staging / f"candidate-{kind}.onnx"
        try:
            export_one(kind, resolved.module, resolved.spec, path, opset, batch, time, resolved.int_high)
        except Exception as error:  # exporters raise anything from TypeError to their own errors
            attempts.append(Attempt(kind, False, f"export failed: {summarise_export_error(error)}"))
            continue
        report = _verify_base(resolved, path, example, f"{kind} export of {resolved.spec.name}")
        if report.ok and timed:
            # Only worth a second export when everything else passed: an export whose node count
            # depends on the example length has unrolled or baked in the time axis.
            other = staging / f"candidate-{kind}-t{other_time}.onnx"
            try:
                export_one(kind, resolved.module, resolved.spec, other, opset, batch, other_time, resolved.int_high)
                report.checks += inventory_checks({}, 0, (sum(report.inventory.values()), sum(_inventory(other).values()), other_time))[1:]
            except Exception as error:
                report.checks.append(Check("node count at two example lengths", False,
                                           f"export at time={other_time} failed: {summarise_export_error(error)}"))
        if report.ok:
            attempts.append(Attempt(kind, True, "passed verification", report))
            return kind, path, report, attempts
        attempts.append(Attempt(kind, False, f"verification failed: {report.summary()}", report))
    reports = [a.report for a in attempts if a.report is not None]
    if not reports:
        reasons = "; ".join(f"{a.exporter}: {a.reason.removeprefix('export failed: ')}" for a in attempts)
        raise UnsupportedModel(f"cannot export {resolved.spec.name!r}: {reasons}")
    table = "\n".join(r.table() for r in reports)
    for a in attempts:
        if a.report is None:
            table += f"\n{a.exporter}: {a.reason}"
    raise VerificationFailed(
        f"export of {resolved.spec.name!r} failed verification with {', '.join(a.exporter for a in attempts)}: "
        + "; ".join(f"{a.exporter}: {a.reason}" for a in attempts),
        table=table, attempts=tuple(attempts),
    )


def parity_summary(report: VerifyReport) -> dict[str, Any]:
    worst = max((p.max_abs or 0.0 for p in report.parity), default=0.0)
    return {"ok": report.ok, "shapes": len(report.parity), "max_abs_err": worst,
            "checked": [p.label for p in report.parity]}


def write_metadata(path: Path, props: Mapping[str, str]) -> None:
    """Set ``metadata_props`` entries (replacing same keys) and save in place."""
    import onnx

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def base_metadata(resolved: ModelSource, precision: str, export_info: Mapping[str, Any]) -> dict[str, str]:
    from ortkit.runtime import metadata_props  # the one writer of ortkit.* keys (runtime reads them)

    spec = resolved.spec
    return metadata_props(model=spec.name, family=spec.family, task=resolved.task, precision=precision,
                          spec_json=spec.to_json(), export=export_info)


def _export_into(resolved: ModelSource, out: Path, staging: Path, *, exporter: str, opset: int,
                 example: tuple[int, int], fp16: bool, fp16_io: str, int8: str | None, calibration: str,
                 task: str | None, optimize: str | None, optimize_ep: str, streaming: bool,
                 keep_going: bool = False) -> ExportResult:
    if task is not None:
        resolved.task = task
    if streaming:
        from ortkit.exporter._streaming import check_streamable

        check_streamable(resolved)  # refuse before spending time on the export
    found = versions()
    kind, candidate, report, attempts = _try_exporters(resolved, staging, exporter, opset, example)
    model_path = staging / MODEL_FILE
    shutil.copyfile(candidate, model_path)
    info = {"exporter": kind, "opset": opset, "versions": found, "parity": parity_summary(report),
            "source": resolved.describe(), "schema_version": SCHEMA_VERSION}
    write_metadata(model_path, base_metadata(resolved, "fp32", info))

    from ortkit.exporter import _variants

    context = _variants.VariantContext(resolved=resolved, base=model_path, staging=staging, example=example,
                                       opset=opset, exporter=kind, versions=found)
    variants: list[VariantResult] = []
    if fp16:
        variants.append(_variants.fp16_variant(context, keep_io=fp16_io == "fp32"))
    if int8 == "dynamic":
        variants.append(_variants.int8_dynamic_variant(context))
    elif int8 == "static":
        variants.append(_variants.int8_static_variant(context, method=calibration))
    if optimize is not None:
        variants.append(_variants.optimized_variant(context, level=optimize, ep=optimize_ep))
    if streaming:
        from ortkit.exporter._streaming import streaming_variant

        variants.append(streaming_variant(context))
    failed = [v for v in variants if not v.verification.ok]
    if keep_going:
        # A sweep over many models wants the fp32 file and the variants that verified; the failed
        # ones are recorded in export.json with the reason, and no file of theirs is written.
        variants = [v for v in variants if v.verification.ok]
    elif failed:
        raise VerificationFailed(
            f"{', '.join(v.kind for v in failed)} variant of {resolved.spec.name!r} failed verification: "
            + "; ".join(f"{v.kind}: {v.verification.summary()}" for v in failed),
            table="\n".join(v.verification.table() for v in failed),
        )

    sha = file_sha256(model_path)
    result = ExportResult(
        out_dir=out, model_path=out / MODEL_FILE, report_path=out / REPORT_FILE, spec=resolved.spec,
        source=resolved.describe(), exporter=kind, opset=opset, attempts=tuple(attempts),
        verification=report, sha256=sha, parameters=int(sum(p.numel() for p in resolved.module.parameters())),
        variants=tuple(variants), warnings=tuple(resolved.warnings), versions=found,
        failed_variants=tuple(failed) if keep_going else (),
    )
    report_tmp = staging / REPORT_FILE
    report_tmp.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=False) + "\n")
    # Rename into place only now, everything verified; the old report goes first and the new one
    # last, so a folder holding an export.json always holds the files it describes. Variant files
    # of an earlier export that this one did not write are removed: they belong to another model.
    (out / REPORT_FILE).unlink(missing_ok=True)
    written = {v.file for v in variants}
    for stale in out.iterdir():
        if _VARIANT_FILES.match(stale.name) and stale.name not in written and stale.is_file():
            stale.unlink()
    for variant in variants:
        (staging / variant.file).replace(out / variant.file)
    model_path.replace(out / MODEL_FILE)
    report_tmp.replace(out / REPORT_FILE)
    return result

