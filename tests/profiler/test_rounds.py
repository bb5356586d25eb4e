"""Interleaved trials: rounds over serving workers, stored per round, resumable; paired ratios,
hierarchical intervals and the stability rule; `ortkit doctor`."""

from __future__ import annotations

import os

import stat
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ortkit.profiler import (
    Budget,
    Groups,
    ResultStore,
    group_ci,
    paired_ratio,
    profile,
    ratio_between,
    resolve_model,
    robust_unstable,
)
from ortkit.profiler._rounds import IN_PROGRESS, block_key, worker_cpus

ROUNDS = Budget(warmup_runs=2, warmup_time_s=0.0, min_runs=3, max_time_s=0.03, rounds=3, max_rounds=4)


def test_configurations_of_one_shape_share_every_round_and_each_row_keeps_its_rounds(tmp_path: Path, build) -> None:
    model = build.lstm(tmp_path / "lstm.onnx")
    db = tmp_path / "r.db"
    summary = profile([model], batches=[1], times=[4, 16], threads=[1, 2], db=db, budget=ROUNDS, mode="interleaved")
    assert summary.measured == 4 and summary.count("ok") == 4
    rows = ResultStore(db, readonly=True).results(status="ok")
    assert len(rows) == 4
    for row in rows:
        assert 3 <= len(row.metrics.round_p50_ms) <= ROUNDS.max_rounds
        assert len(row.metrics.round_ids) == len(row.metrics.round_p50_ms)
        assert row.metrics.stop_reason in ("converged", "max_rounds")
        assert row.metrics.load_1m is not None and row.metrics.peak_rss_bytes
        assert row.metrics.loop_calls and row.metrics.loop_calls >= 1
    by_shape: dict[int | None, list] = {}
    for row in rows:
        by_shape.setdefault(row.spec.time, []).append(row)
    for same_shape in by_shape.values():
        one, two = same_shape
        shared = set(one.metrics.round_ids) & set(two.metrics.round_ids)
        assert len(shared) >= 3
        ratio = ratio_between(one, two)
        assert ratio.paired and ratio.low <= ratio.estimate <= ratio.high
    # Shapes are separate blocks: no round is shared across them.
    assert not set(by_shape[4][0].metrics.round_ids) & set(by_shape[16][0].metrics.round_ids)


def test_a_killed_sweep_resumes_from_its_stored_rounds(tmp_path: Path, build) -> None:
    model = build.lstm(tmp_path / "lstm.onnx")
    db = tmp_path / "r.db"
    source = resolve_model(model)
    first = profile([source], batches=[1], times=[4], threads=[1], db=db, budget=ROUNDS, mode="interleaved")
    done = first.results[0]
    # What a sweep killed after two rounds leaves: the row stored after its last finished round.
    partial = replace(done, samples_ms=done.samples_ms[:6], metrics=replace(done.metrics, stop_reason=IN_PROGRESS,
                      round_p50_ms=(1.0, 1.1), round_ids=("old:0", "old:1")))
    with ResultStore(db) as store:
        store.add(partial)
    again = profile([source], batches=[1], times=[4], threads=[1], db=db, budget=ROUNDS, mode="interleaved")
    assert again.measured == 1
    row = ResultStore(db, readonly=True).results(status="ok")[0]
    assert row.metrics.round_ids[:2] == ("old:0", "old:1")  # the killed sweep's rounds are kept
    assert len(row.metrics.round_ids) >= 3 and row.metrics.stop_reason != IN_PROGRESS
    assert row.samples_ms[:6] == done.samples_ms[:6]
    # A finished row is not measured again.
    assert profile([source], batches=[1], times=[4], threads=[1], db=db, budget=ROUNDS, mode="interleaved").resumed == 1


def _dying_python(tmp_path: Path, how: str) -> str:
    """An interpreter whose serving worker dies (segfault) or hangs on its second slice."""
    script = tmp_path / "python-dying"
    action = "import ctypes; ctypes.string_at(0)" if how == "crash" else "import time; time.sleep(60)"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "from ortkit.profiler import _worker\n"
        "class Lines:\n"
        "    def __init__(self): self.slices = 0\n"
        "    def readline(self): return sys.stdin.readline()\n"
        "    def __iter__(self):\n"
        "        for line in sys.stdin:\n"
        "            if '\"slice\"' in line:\n"
        "                self.slices += 1\n"
        f"                if self.slices == 2: {action}\n"
        "            yield line\n"
        "if '--serve' in sys.argv:\n"
        "    import os\n"
        "    out = os.fdopen(os.dup(1), 'w'); os.dup2(2, 1)\n"
        "    sys.exit(_worker.serve(Lines(), out))\n"
        "sys.exit(_worker.main(sys.argv[3:]))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.parametrize("how", ["crash", "hang"])
def test_a_worker_that_dies_between_rounds_fails_its_configuration_only(tmp_path: Path, build, how: str) -> None:
    model = build.lstm(tmp_path / "lstm.onnx")
    db = tmp_path / "r.db"
    summary = profile([model], batches=[1], times=[4], threads=[1], db=db, budget=ROUNDS, mode="interleaved",
                      python=_dying_python(tmp_path, how), timeout=3.0)
    result = summary.results[0]
    assert result.status == "failed" and not result.samples_ms
    assert ("SIGSEGV" in result.message) if how == "crash" else ("hung" in result.message)
    assert ResultStore(db, readonly=True).results()[0].status == "failed"


def test_cores_are_split_between_worker_and_parent_only_when_there_are_spare_ones() -> None:
    assert worker_cpus(1, [0, 1]) == ((1,), (0,))
    assert worker_cpus(2, [0, 1]) == ((0, 1), (0, 1))
    assert worker_cpus(None, [0, 1, 2, 3]) == ((0, 1, 2, 3), (0, 1, 2, 3))
    assert worker_cpus(2, [0, 1, 2, 3]) == ((2, 3), (0, 1))


def test_block_key_groups_what_is_compared(tmp_path: Path, build) -> None:
    from ortkit.profiler import ProfileSpec

    a = ProfileSpec("a.onnx", "x", "a", batch=1, time=16, threads=1, precision="fp32")
    b = ProfileSpec("b.onnx", "y", "b", batch=1, time=16, threads=2, precision="int8-dynamic", runner="torch-eager")
    c = ProfileSpec("a.onnx", "x", "a", batch=1, time=64, threads=1)
    assert block_key(a) == block_key(b) != block_key(c)


def test_paired_ratio_cancels_drift_that_hits_both_sides_alike() -> None:
    rng = np.random.default_rng(1)
    drift = np.linspace(1.0, 1.5, 12) * rng.uniform(0.9, 1.1, 12)  # the machine slows down over the sweep
    ids = tuple(f"s:{i}" for i in range(12))
    a = Groups((), tuple(2.0 * drift), ids)
    b = Groups((), tuple(1.0 * drift * rng.uniform(0.995, 1.005, 12)), ids)
    ratio = paired_ratio(a, b)
    assert ratio is not None and ratio.paired and ratio.rounds == 12
    assert ratio.estimate == pytest.approx(2.0, rel=0.01) and ratio.high - ratio.low < 0.04
    # The same numbers unpaired (different round ids): the drift widens the interval.
    unpaired = ratio_between(a, replace(b, round_ids=tuple(f"t:{i}" for i in range(12))))
    assert not unpaired.paired and unpaired.high - unpaired.low > 5 * (ratio.high - ratio.low)


def test_group_ci_comes_from_group_medians_not_pooled_samples() -> None:
    # Three processes with medians 1.14, 1.48, 1.92 ms and 1000 tight samples each: pooled, the
    # median's CI is +-1%; from the process medians it spans them all.
    samples = tuple(x for m in (1.14, 1.48, 1.92) for x in np.full(1000, m) + np.linspace(-0.01, 0.01, 1000))
    groups = Groups(samples, process_p50_ms=(1.14, 1.48, 1.92))
    median, low, high = group_ci(groups)
    assert median == pytest.approx(1.48) and low == pytest.approx(1.14) and high == pytest.approx(1.92)
    assert robust_unstable(Groups(samples, round_p50_ms=(1.0, 1.0, 1.2, 1.2, 1.0, 1.2)), 0.01, 3000)
    assert not robust_unstable(Groups(samples, round_p50_ms=(1.0, 1.01, 1.0, 1.01)), 0.01, 3000)
    assert robust_unstable(Groups((1.0,) * 4), 0.0, 4)


def test_doctor_measures_the_noise_floor_and_advises(tmp_path: Path) -> None:
    from ortkit.cli._main import cli

    outcome = CliRunner().invoke(cli, ["doctor", "--rounds", "6"])
    assert outcome.exit_code == 0, outcome.output
    assert "1 thread:" in outcome.output and "A/A paired ratio" in outcome.output and "expect paired ratios within" in outcome.output
    assert "noise while measuring: load" in outcome.output


def test_noise_is_read_from_the_machine_and_judged() -> None:
    from ortkit.profiler import NoiseWindow, noise_between, sample_noise

    first = sample_noise()
    sum(i * i for i in range(200_000))
    window = noise_between(first, sample_noise())
    assert window.load_1m is not None and window.load_1m >= 0
    assert window.cpu_steal is not None and 0.0 <= window.cpu_steal <= 1.0
    assert window.busy_processes is not None and window.cpus >= 1
    # Steal, or another program's runnable process, makes the machine not quiet; the load average
    # decides only where no process count was recorded (it also counts ortkit's own workers).
    assert not NoiseWindow(0.1, 0.10, None, 0, 2).quiet and not NoiseWindow(0.1, 0.0, None, 1, 2).quiet
    assert NoiseWindow(50.0, 0.0, None, 0, 2).quiet and not NoiseWindow(50.0, 0.0, None, None, 2).quiet
    assert NoiseWindow(0.1, 0.0, "performance", 0, 2).quiet and "governor performance" in NoiseWindow(0.1, 0.0, "performance", 0, 2).describe()


def test_busy_processes_count_other_programs_but_not_ortkits_own_workers() -> None:
    """A spinning child of this process is ortkit's own (a worker); the same loop started in its
    own session by a short-lived parent (so it is re-parented away from this tree) is another
    program. Both real processes, counted from /proc."""
    import subprocess
    import sys
    import time

    from ortkit.profiler import sample_noise

    spin = [sys.executable, "-c", "while True: pass"]
    own = subprocess.Popen(spin)
    try:
        time.sleep(0.3)
        with_own = min(sample_noise().busy_processes for _ in range(5))
    finally:
        own.kill()
        own.wait()
    launcher = subprocess.run([sys.executable, "-c", (
        "import subprocess, sys; p = subprocess.Popen(sys.argv[1:], start_new_session=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
    ), *spin], capture_output=True, text=True, check=True)
    other = int(launcher.stdout)
    try:
        time.sleep(0.3)
        with_other = max(sample_noise().busy_processes for _ in range(5))
    finally:
        os.kill(other, 9)
    assert with_other >= with_own + 1, (with_own, with_other)


def test_compare_across_threads_in_one_interleaved_database_is_paired(tmp_path: Path, build) -> None:
    from ortkit.report import compare

    db = tmp_path / "r.db"
    profile([build.matmul(tmp_path / "mm.onnx")], batches=[4], threads=[1, 2], db=db, budget=ROUNDS, mode="interleaved")
    result = compare(str(db), str(db), across="threads=1:2")
    (row,) = result.rows
    old, new = row.base, row.new
    assert set(old.round_ids) == set(new.round_ids) and len(old.round_ids) >= 3
    expected = ratio_between(new, old, confidence=0.95)
    assert expected.paired
    assert row.comparison.ratio == pytest.approx(expected.estimate)


def test_a_worker_that_fails_before_its_first_round_leaves_the_rest_of_its_block_measured(tmp_path: Path, build) -> None:
    # The block's workers start together; one that cannot open its session fails alone.
    import onnx
    from onnx import TensorProto, helper

    good = build.lstm(tmp_path / "lstm.onnx")
    graph = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"], domain="ortkit.test")], "bad",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 4])])
    bad = tmp_path / "bad.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ortkit.test", 1)])
    model.ir_version = 8
    onnx.save(model, bad)
    summary = profile([good, bad], batches=[1], times=[4], threads=[1], db=tmp_path / "r.db", budget=ROUNDS, mode="interleaved")
    by = {r.spec.model_label: r for r in summary.results}
    assert by["bad"].status == "failed" and not by["bad"].samples_ms
    assert by["lstm"].ok and len(by["lstm"].metrics.round_p50_ms) >= 3


def test_a_model_named_relative_to_the_working_directory_is_measured_by_workers_elsewhere(tmp_path: Path, build, monkeypatch) -> None:
    """Workers start in their own temporary folder: a configuration built from a relative path
    (the study's `--out study-out`) must still name the file there, not fail to find it."""
    from ortkit.base import file_sha256
    from ortkit.profiler import ModelSource

    build.matmul(tmp_path / "mm.onnx")
    monkeypatch.chdir(tmp_path)
    source = ModelSource(path="mm.onnx", label="mm", sha256=file_sha256("mm.onnx"))
    summary = profile([source], batches=[1, 2], db="r.db", budget=ROUNDS, mode="interleaved")
    assert [r.status for r in summary.results] == ["ok", "ok"], [r.message for r in summary.results]
    assert all(os.path.isabs(r.spec.model) for r in summary.results)
