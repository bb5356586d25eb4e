"""Fuzz the runtime: ``python -m tests.fuzz --cases 2000`` (or ``--minutes 30``).

Cases run in chunks, each in a child process (``tests.fuzz._chunk``) so that an abort, a crash or a
hang is seen and counted instead of ending the run; the model bytes of a chunk's current case are
kept in ``--keep`` for reproduction. Prints the totals as JSON: cases, outcomes, crashes, hangs,
oracle failures. Exit status 1 when any of the last three is not 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description="Fuzz ortkit's model and input checks, sweep-file parser and store reader.")
    parser.add_argument("--cases", type=int, default=1000, help="cases in all (ignored with --minutes)")
    parser.add_argument("--minutes", type=float, default=None, help="run chunks until this much time has passed")
    parser.add_argument("--chunk", type=int, default=200, help="cases per child process")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first chunk (chunk k uses seed + k)")
    parser.add_argument("--target", choices=["models", "inputs", "both", "sweeps", "stores", "files", "all"], default="both",
                        help="both: models and inputs; files: sweep files and results databases; all: the four")
    parser.add_argument("--hang-seconds", type=float, default=900.0, help="a chunk taking longer counts as a hang")
    parser.add_argument("--keep", type=Path, default=Path("fuzz-crashes"), help="folder for crashing cases")
    args = parser.parse_args()

    totals: Counter[str] = Counter()
    problems: list[dict[str, object]] = []
    start = time.monotonic()
    k = 0
    done = 0
    while True:
        if args.minutes is not None and time.monotonic() - start > args.minutes * 60:
            break
        if args.minutes is None and done >= args.cases:
            break
        targets = {"both": ["models", "inputs"], "files": ["sweeps", "stores"],
                   "all": ["models", "inputs", "sweeps", "stores"]}.get(args.target, [args.target])
        target = targets[k % len(targets)]
        cases = args.chunk if args.minutes is not None else min(args.chunk, args.cases - done)
        result = _chunk(args.seed + k, cases, target, args.keep, args.hang_seconds)
        for key, value in result.get("counts", {}).items():
            totals[key] += value
            done += value
        if "problem" in result:
            problems.append(result)
            done += 1
        k += 1
        print(f"chunk {k} ({target}, seed {args.seed + k - 1}): {result.get('counts') or result.get('problem')}",
              file=sys.stderr, flush=True)
    kinds = Counter(str(p["problem"]) for p in problems)
    summary = {
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "minutes": round((time.monotonic() - start) / 60, 1),
        "chunks": k,
        "cases": sum(totals.values()),
        "ran": sum(v for key, v in totals.items() if not key.startswith("clean")),  # ran, parsed or read
        "clean_errors": sum(v for key, v in totals.items() if key.startswith("clean")),
        "by_outcome": dict(sorted(totals.items())),
        "crashes": kinds.get("crash", 0),
        "hangs": kinds.get("hang", 0),
        "oracle_failures": kinds.get("failure", 0),
        "problems": problems[:5],
    }
    print(json.dumps(summary, indent=2))
    sys.exit(1 if problems else 0)


def _chunk(seed: int, cases: int, target: str, keep: Path, hang_seconds: float) -> dict[str, object]:
    keep.mkdir(parents=True, exist_ok=True)
    case_file = keep / f"case-{target}-seed{seed}.{'db' if target == 'stores' else 'onnx'}"
    command = [sys.executable, "-m", "tests.fuzz._chunk", "--seed", str(seed), "--cases", str(cases), "--target", target,
               "--case-file", str(case_file)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=hang_seconds)
    except subprocess.TimeoutExpired:
        return {"problem": "hang", "seed": seed, "target": target, "case": str(case_file)}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    reply = json.loads(lines[-1]) if lines else {}
    if done.returncode == 0 and "counts" in reply:
        case_file.unlink(missing_ok=True)
        return reply
    if "failure" in reply:
        return {"problem": "failure", "seed": seed, "target": target, "detail": reply["failure"][-600:]}
    return {"problem": "crash", "seed": seed, "target": target, "returncode": done.returncode,
            "case": str(case_file), "stderr": done.stderr[-600:]}


if __name__ == "__main__":
    main()
