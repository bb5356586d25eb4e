"""Check the training targets of docs/models.md with the default presets and print a table.

    .venv/bin/python benchmarks/training.py            # all targets (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/training.py --only gru  # a subset (fnmatch on "model/task")

Each run trains with the preset's default stopping rule (epochs and a time budget under 2
minutes), then scores the held-out test split. The vanilla RNN on the adding problem is expected to
fail: it is run and shown, as in Bai et al. (2018), Table 1.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import platform
import sys

from rich.console import Console
from rich.table import Table

from ortkit.models import train

# (model, task, task options, target: ("min" | "max", threshold), expected to pass)
TARGETS = [
    ("lstm", "seq-digits", {}, ("min", 0.95), True),
    ("gru", "seq-digits", {}, ("min", 0.95), True),
    ("tcn", "seq-digits", {}, ("min", 0.95), True),
    ("tcn", "adding", {"length": 200}, ("max", 0.01), True),
    ("gru", "adding", {"length": 200}, ("max", 0.01), True),
    ("rnn", "adding", {"length": 200}, ("max", 0.01), False),
]
LIMIT_SECONDS = 120.0


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="*", help="fnmatch pattern on MODEL/TASK")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console(width=120)
    table = Table(title=f"training targets ({cpu_name()}, {os.cpu_count()} cores, seed {args.seed})")
    for col in ("model", "task", "params", "metric", "target", "epochs", "seconds", "result"):
        table.add_column(col)
    failures = 0
    for model, task, options, (sense, threshold), expected in TARGETS:
        if not fnmatch.fnmatchcase(f"{model}/{task}", args.only):
            continue
        with console.status(f"training {model} on {task}"):
            r = train(model, task, task_options=options, seed=args.seed)
        met = r.metric >= threshold if sense == "min" else r.metric <= threshold
        in_time = r.training_seconds <= LIMIT_SECONDS
        ok = met and in_time
        if expected:
            verdict = "[green]pass[/green]" if ok else "[red]FAIL[/red]"
            failures += not ok
        else:
            verdict = "fails as expected" if not met else "[yellow]passes (unexpected)[/yellow]"
        target = f"{r.metric_name} {'>=' if sense == 'min' else '<='} {threshold}"
        table.add_row(model, task, str(r.spec.parameters), f"{r.metric:.4g}", target, str(r.epochs),
                      f"{r.training_seconds:.1f}", verdict)
        console.print(f"{model}/{task}: {r.metric_name}={r.metric:.4g} in {r.training_seconds:.1f}s "
                      f"({r.epochs} epochs, best val {r.val_metric:.4g})")
    console.print(table)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
