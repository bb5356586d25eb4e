"""What `ortkit tune` buys, side by side: tuned vs default ORT per shape group (the confirmed
gain with its CI), tuned ORT vs PyTorch eager per (model, batch, T) cell, and the time to tune
each model over the grid. Prints ratios; checks nothing with a time limit.

Each zoo model is exported (random weights, with its fp16 and dynamic-int8 variants), tuned over
the default study's CPU grid (batch 1 and 16, T = 16 to 4096), then default ORT, tuned ORT and
PyTorch eager are measured side by side, in interleaved rounds, at the study's baseline lengths;
every ratio is paired over those rounds, with its 95% CI.

    .venv/bin/python benchmarks/tune_gain.py [--models lstm,gru,tcn,cnn1d] [--batch 1,16]
        [--time 16,64,256,1024,4096] [--baseline-time 64,1024,4096] [--budget-s 120] [--work DIR]

Targets (issue "ortkit tune"): tuned ORT >= 1.0x PyTorch eager in every cell, >= 2x geomean at
batch 1; tuning one model over the grid <= 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import time
from pathlib import Path

from ortkit.profiler import Budget, measure_pending, profile, ratio_between, read_onnx_metadata, tuned_spec
from ortkit.runtime import load_tuned_profile
from ortkit.tune import tune_model

BUDGET = Budget(warmup_runs=3, warmup_time_s=0.05, min_runs=10, max_time_s=0.4, target_rel_ci=0.01, max_rounds=8)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _export(name: str, work: Path) -> Path:
    folder = work / name
    if not (folder / "export.json").is_file():
        from ortkit.exporter import export

        export(name, folder, fp16=True, int8="dynamic", keep_going=True)
    return folder / "model.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lstm,gru,tcn,cnn1d")
    parser.add_argument("--batch", default="1,16")
    parser.add_argument("--time", default="16,64,256,1024,4096")
    parser.add_argument("--baseline-time", default="64,1024,4096")
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--work", default="tune-gain")
    parser.add_argument("--json", default=None, help="also write every figure to this JSON file")
    parser.add_argument("--from-db", action="store_true", help="print the cell tables of a finished run in --work again")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = work / "results.db"
    batches, times, cells = _ints(args.batch), _ints(args.time), _ints(args.baseline_time)
    if args.from_db:
        _summary(_from_db(db, args.models.split(","), batches, cells))
        return
    print(f"machine: {_cpu()}, {os.cpu_count()} cores; load at start: {_uptime()}", flush=True)
    figures: dict = {"models": {}, "cells": []}
    for name in args.models.split(","):
        model = _export(name, work)
        started = time.monotonic()
        result = tune_model(model, batches=batches, times=times, budget_s=args.budget_s, db=db, out=work / f"{name}.tuned.json")
        seconds = time.monotonic() - started
        family = read_onnx_metadata(model).family
        print(f"\n{name} ({family}): tuned in {seconds:.0f} s (load now {_uptime()})")
        groups = []
        for outcome in result.outcomes:
            gain = outcome.gain.describe() if outcome.gain else "-"
            print(f"  {outcome.group.describe():48s} {outcome.choice.describe():50s} gain {gain}"
                  f"{'' if outcome.confident else ' (kept default)'}")
            groups.append({"group": outcome.group.describe(), "choice": outcome.choice.describe(), "confident": outcome.confident,
                           "gain": None if outcome.gain is None else [outcome.gain.ratio, outcome.gain.low, outcome.gain.high]})
        figures["models"][name] = {"seconds": seconds, "groups": groups, "family": family}
        figures["cells"] += _versus_torch(name, model, result.path, batches, cells, db)
    _summary(figures["cells"])
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def _versus_torch(name: str, model: Path, profile_path: Path, batches: list[int], cells: list[int], db: Path) -> list[dict]:
    """Default ORT, tuned ORT and PyTorch eager at each cell, in the same interleaved blocks."""
    summary = profile([model.parent], batches=batches, times=cells, threads=[None], baseline=["torch"], db=db, budget=BUDGET,
                      mode="interleaved", defer=True, force=True)
    tuned = load_tuned_profile(profile_path)
    defaults = [item for item in summary.pending if item[0].runner == "ort"]
    summary.pending += [(tuned_spec(spec, tuned, profile_path), env, None) for spec, env, _ in defaults]
    measure_pending([summary])
    return _cells(name, summary.results, batches, cells)


def _cells(name: str, results: list, batches: list[int], cells: list[int]) -> list[dict]:
    """Per cell: the three medians, tuned vs PyTorch, tuned vs default (paired ratios with CIs)."""
    rows = {}
    for result in results:
        if dict(result.spec.tags).get("tune"):
            continue  # the race's own rows
        kind = "torch" if result.spec.runner != "ort" else "tuned" if dict(result.spec.tags).get("tuned") else "default"
        rows[(kind, result.spec.batch, result.spec.time)] = result
    out = []
    print(f"  {'cell':14s} {'default ms':>10s} {'tuned ms':>9s} {'torch ms':>9s}  torch/tuned [95% CI]   default/tuned [95% CI]")
    for batch in batches:
        for length in cells:
            d, t, p = (rows.get((k, batch, length)) for k in ("default", "tuned", "torch"))
            if not (d and t and p and d.ok and t.ok and p.ok):
                print(f"  b={batch} T={length}: not measured ({', '.join(r.message or r.status for r in (d, t, p) if r and not r.ok)})")
                continue
            vs_torch, gain = ratio_between(p, t), ratio_between(d, t)
            print(f"  b={batch:<3d} T={length:<6d} {d.stats.p50:10.3f} {t.stats.p50:9.3f} {p.stats.p50:9.3f}  "
                  f"{vs_torch.estimate:6.2f}x [{vs_torch.low:.2f}, {vs_torch.high:.2f}]   {gain.estimate:5.2f}x [{gain.low:.2f}, {gain.high:.2f}]")
            out.append({"model": name, "batch": batch, "time": length, "default_ms": d.stats.p50, "tuned_ms": t.stats.p50,
                        "torch_ms": p.stats.p50, "torch_over_tuned": [vs_torch.estimate, vs_torch.low, vs_torch.high],
                        "default_over_tuned": [gain.estimate, gain.low, gain.high], "paired": vs_torch.paired})
    return out


def _from_db(db: Path, models: list[str], batches: list[int], cells: list[int]) -> list[dict]:
    """The cell tables again from a finished run's database (nothing is measured)."""
    from ortkit.profiler import ResultStore

    results = ResultStore(db, readonly=True).results()
    out = []
    for name in models:
        print(f"\n{name}")
        out += _cells(name, [r for r in results if r.spec.model_label == name or r.spec.zoo_name == name], batches, cells)
    return out


def _summary(cells: list[dict]) -> None:
    if not cells:
        return
    ratios = [c["torch_over_tuned"][0] for c in cells]
    at_one = [c["torch_over_tuned"][0] for c in cells if c["batch"] == 1]
    geo = math.exp(sum(map(math.log, at_one)) / len(at_one)) if at_one else float("nan")
    print(f"\ntuned ORT >= 1.0x PyTorch eager in {sum(r >= 1.0 for r in ratios)} of {len(ratios)} cells "
          f"(CI above 1 in {sum(c['torch_over_tuned'][1] > 1.0 for c in cells)}); geomean at batch 1: {geo:.2f}x")
    below = [f"{c['model']} b={c['batch']} T={c['time']} {c['torch_over_tuned'][0]:.2f}x" for c in cells if c["torch_over_tuned"][0] < 1.0]
    if below:
        print("below 1.0x: " + "; ".join(below))
    lost = [f"{c['model']} b={c['batch']} T={c['time']} {c['default_over_tuned'][0]:.2f}x" for c in cells if c["default_over_tuned"][2] < 1.0]
    won = sum(c["default_over_tuned"][1] > 1.0 for c in cells)
    print(f"tuned vs default at these cells: faster with confidence in {won} of {len(cells)}; slower with confidence in "
          f"{len(lost)}{': ' + '; '.join(lost) if lost else ''}")
    print(f"load at end: {_uptime()}")


def _cpu() -> str:
    from ortkit.base import cpu_model

    return cpu_model()


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
