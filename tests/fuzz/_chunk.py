"""One chunk of fuzz cases, in this process: ``python -m tests.fuzz._chunk --seed S --cases N
--target models|inputs|sweeps|stores [--case-file PATH]``. Prints one JSON line of outcome counts; exits 1 with
the failing case described when the oracle is broken (an exception that is not an OrtkitError)."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import traceback
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz import _cases, _files

# A mutated model may ask for an enormous tensor; under this cap the allocation fails inside the
# process (an error to report) instead of taking the machine's memory.
MEMORY_LIMIT = 6 * 2**30


def run_chunk(seed_value: int | None, cases: int, target: str, case_file: Path | None = None,
              derandomize: bool = False) -> dict[str, int]:
    """Run ``cases`` hypothesis examples of ``target``; returns the outcome counts."""
    _cases.OUTCOMES.clear()
    strategy = {"models": st.one_of(_cases.byte_mutated(), _cases.structure_mutated()),
                "inputs": _cases.input_case(), "sweeps": _files.sweep_case(), "stores": _files.store_case()}[target]

    @settings(max_examples=cases, database=None, deadline=None, derandomize=derandomize,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def fuzz(case: object) -> None:
        if target == "sweeps":
            outcome = _files.try_sweep(case)  # type: ignore[arg-type]
        elif target == "stores":
            if case_file is not None:
                case_file.write_bytes(case[0])  # type: ignore[index]
            outcome = _files.try_store(case)  # type: ignore[arg-type]
        elif target == "models":
            if case_file is not None:
                case_file.write_bytes(case)  # type: ignore[arg-type]
            outcome = _cases.try_model(case)  # type: ignore[arg-type]
        else:
            index, feed, cast = case  # type: ignore[misc]
            outcome = _cases.try_inputs(index, feed, cast)
        _cases.OUTCOMES[outcome] += 1

    if seed_value is not None and not derandomize:
        fuzz = seed(seed_value)(fuzz)
    fuzz()
    return dict(_cases.OUTCOMES)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--target", choices=["models", "inputs", "sweeps", "stores"], default="models")
    parser.add_argument("--case-file", type=Path)
    parser.add_argument("--derandomize", action="store_true", help="hypothesis's fixed, seedless sequence (for the suite)")
    args = parser.parse_args()
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):
        pass
    try:
        counts = run_chunk(args.seed, args.cases, args.target, args.case_file, args.derandomize)
    except Exception:
        print(json.dumps({"failure": traceback.format_exc()[-3000:]}), flush=True)
        sys.exit(1)
    print(json.dumps({"counts": counts}), flush=True)


if __name__ == "__main__":
    main()
