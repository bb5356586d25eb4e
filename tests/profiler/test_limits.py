"""Resource bounds of a sweep: thread counts and generated inputs checked before anything starts,
workers under a memory limit whose failure is recorded as "out of memory"."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from ortkit.base import UsageError
from ortkit.profiler import Budget, MEMORY_ENV, profile, resolve_model, thread_limit
from ortkit.profiler._limits import apply_memory_limit, out_of_memory, parse_bytes, worker_memory_limit
from ortkit.profiler._plan import plan
from ortkit.study import parse_sweep


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    return sqlite3.connect(db).execute("SELECT COUNT(*) FROM results").fetchone()[0]


def test_a_huge_batch_fails_before_any_worker_allocates(tmp_path: Path, build: SimpleNamespace, fast: Budget) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    db = tmp_path / "r.db"
    with pytest.raises(UsageError, match=r"would take 238\.4 GiB \(limit 2 GiB per configuration\); give a smaller --batch"):
        profile([model], batches=[1, 1_000_000_000], db=db, budget=fast)
    assert _rows(db) == 0  # refused as a whole grid, before the first configuration


def test_thread_counts_beyond_the_cap_are_refused_unless_allowed(tmp_path: Path, build: SimpleNamespace, fast: Budget) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    too_many = thread_limit() + 1
    with pytest.raises(UsageError, match=f"{too_many} threads is more than {thread_limit()}"):
        profile([model], threads=[1, too_many], db=tmp_path / "r.db", budget=fast)
    specs, _ = plan([resolve_model(model)], ["cpu"], [1], [None], [too_many], max_threads=too_many)
    assert [s.threads for s in specs] == [too_many]


def test_sweep_files_cap_threads_too(tmp_path: Path) -> None:
    data = {"models": [{"zoo": "lstm"}], "grid": {"threads": [1, 100000]}}
    with pytest.raises(UsageError, match=f"grid.threads: 100000 is more than {thread_limit()}"):
        parse_sweep(data, tmp_path / "sweep.toml")


def test_a_worker_over_its_memory_limit_is_recorded_as_out_of_memory(tmp_path: Path, build: SimpleNamespace, fast: Budget,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    model = build.matmul(tmp_path / "mm.onnx")
    monkeypatch.setenv(MEMORY_ENV, "1GiB")
    # 6,000,000 x 64 float32 inputs (1.4 GiB) pass the 2 GiB input cap but not the worker's limit.
    summary = profile([model], batches=[6_000_000, 2], db=tmp_path / "r.db", budget=fast)
    big, small = summary.results
    assert big.status == "failed" and big.message.startswith("out of memory: the configuration needs more than the worker's limit of 1.0 GiB")
    assert small.status == "ok"


def test_memory_settings() -> None:
    assert parse_bytes("8GiB") == 8 * 2**30 and parse_bytes("512 MiB") == 512 * 2**20 and parse_bytes("2g") == 2 * 2**30
    assert parse_bytes("off") is None
    for bad in ("lots", "8 parsecs", "1MiB"):
        with pytest.raises(UsageError, match=MEMORY_ENV):
            parse_bytes(bad)
    assert worker_memory_limit("cpu", {MEMORY_ENV: "3GiB"}) == 3 * 2**30
    assert worker_memory_limit("cuda", {MEMORY_ENV: "3GiB"}) == 3 * 2**30
    assert worker_memory_limit("cuda", {}) is None  # device EPs reserve address space beyond use
    assert (worker_memory_limit("cpu", {}) or 0) > 2**28  # the machine's memory by default
    assert apply_memory_limit({}) is None
    assert out_of_memory("RuntimeException: Failed to allocate memory for requested buffer", None) == \
        "out of memory: the configuration needs more than the machine's memory"
    assert out_of_memory("InvalidArgument: wrong rank", 2**30) is None


def test_a_bad_memory_setting_fails_before_measuring(tmp_path: Path, build: SimpleNamespace, fast: Budget,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "plenty")
    with pytest.raises(UsageError, match="is not a size"):
        profile([build.matmul(tmp_path / "mm.onnx")], db=tmp_path / "r.db", budget=fast)
    assert _rows(tmp_path / "r.db") == 0


def test_the_cli_refuses_a_huge_batch_in_one_line(tmp_path: Path, build: SimpleNamespace) -> None:
    from click.testing import CliRunner

    from ortkit.cli import cli

    model = build.matmul(tmp_path / "mm.onnx")
    done = CliRunner().invoke(cli, ["profile", str(model), "--batch", "1000000000", "--db", str(tmp_path / "r.db")])
    assert done.exit_code == 2 and "would take 238.4 GiB" in done.output and "Traceback" not in done.output
    assert len(done.output.strip().splitlines()) == 1
