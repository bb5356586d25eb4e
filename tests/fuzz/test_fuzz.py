"""A short, deterministic fuzz run (hypothesis derandomized) of the runtime's model and input
checks, in a child process so that an abort fails the test instead of ending the suite. The long
run is ``python -m tests.fuzz --minutes 30`` (figures in docs/reliability.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("target", "cases"), [("models", 300), ("inputs", 300), ("sweeps", 300), ("stores", 200)])
def test_short_fuzz_run_meets_the_oracle(target: str, cases: int, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz._chunk", "--derandomize", "--cases", str(cases), "--target", target,
         "--case-file", str(tmp_path / "case.onnx")],
        cwd=ROOT, capture_output=True, text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"rc {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    counts = json.loads(lines[-1])["counts"]
    assert sum(counts.values()) == cases
    # Both sides of the oracle are exercised: some cases run, some are refused with a clean error.
    assert sum(v for k, v in counts.items() if not k.startswith("clean ")) > 0
    assert any(key.startswith("clean ") for key in counts)
