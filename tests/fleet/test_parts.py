"""The fleet's parts that need no cluster: sweep-file node kinds, version agreement, node
equivalence flags and their table, the model transfer check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ortkit.base import OrtkitError
from ortkit.study import SweepFileError, load_sweep
from tests.profiler.conftest import matmul_model


def _file(tmp_path: Path, target: str) -> Path:
    matmul_model(tmp_path / "mm.onnx", 16)
    path = tmp_path / "s.toml"
    path.write_text(f'[[models]]\nonnx = "mm.onnx"\n\n[[targets]]\n{target}\n\n[grid]\nbatch = [1]\n')
    return path


def test_a_target_names_its_node_kind(tmp_path: Path) -> None:
    sweep = load_sweep(_file(tmp_path, 'ep = "cpu"\nnode = "cpu-amd"'))
    assert sweep.targets[0].node == "cpu-amd" and sweep.targets[0].label == "cpu-amd"
    with pytest.raises(SweepFileError, match=r"targets\[0\].node: expected a non-empty string"):
        load_sweep(_file(tmp_path, 'ep = "cpu"\nnode = ""'))
    with pytest.raises(SweepFileError, match="give node without python or target"):
        load_sweep(_file(tmp_path, 'ep = "cpu"\nnode = "a"\ntarget = "b"'))


def test_a_node_target_without_ray_and_a_plain_target_with_ray_are_refused(tmp_path: Path) -> None:
    from ortkit.fleet import FleetError, fleet_cells
    from ortkit.study import run_sweep

    with pytest.raises(SweepFileError, match="add --ray ADDRESS"):
        run_sweep(load_sweep(_file(tmp_path, 'ep = "cpu"\nnode = "cpu-amd"')), db=tmp_path / "r.db")
    plain = load_sweep(_file(tmp_path, 'ep = "cpu"'))
    with pytest.raises(FleetError, match=r"targets\[0\] \(cpu\) names no node kind"):
        fleet_cells([], plain.targets, plain.grid)


def test_the_cli_says_when_no_cluster_answers(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from tests.conftest import run_cli

    out = run_cli("sweep", str(_file(tmp_path, 'ep = "cpu"\nnode = "cpu-amd"')), "--ray", "127.0.0.1:1", "--db", str(tmp_path / "r.db"))
    assert out.returncode == 1
    assert "cannot reach a Ray cluster at '127.0.0.1:1'" in out.stderr and "Traceback" not in out.stderr


def test_a_version_mismatch_names_both_versions() -> None:
    from ortkit.fleet import FleetError, NodeHello, check_versions
    from ortkit.profiler import collect_environment

    here = collect_environment(with_gpus=False)
    check_versions(here, NodeHello("n" * 20, "cpu-amd", "host", 4, here))
    other = dataclasses.replace(here, onnxruntime="1.19.0")
    with pytest.raises(FleetError) as error:
        check_versions(here, NodeHello("abcdef123456789", "cpu-amd", "edge-1", 4, other))
    message = str(error.value)
    assert f"runs ortkit {here.ortkit} with {here.onnxruntime_distribution} 1.19.0" in message
    assert f"this driver runs ortkit {here.ortkit} with {here.onnxruntime_distribution} {here.onnxruntime}" in message


def test_slow_nodes_of_a_kind_are_flagged_and_the_table_keeps_the_latest(tmp_path: Path) -> None:
    from ortkit.fleet import Calibration, flag_nodes, read_calibrations
    from ortkit.fleet._calibration import record_calibration
    from ortkit.profiler import ResultStore

    db = tmp_path / "c.db"
    ResultStore(db).close()
    assert read_calibrations(db) == []
    record_calibration(db, [Calibration("n1", "amd", "h1", "e", 1.0, (1.0,)), Calibration("n2", "amd", "h2", "e", 1.3, (1.3,))])
    record_calibration(db, [Calibration("n2", "amd", "h2", "e", 1.05, (1.05,)), Calibration("n3", "intel", "h3", "e", 9.0, (9.0,))])
    latest = read_calibrations(db)
    assert [(c.node_id, c.p50_ms) for c in latest] == [("n1", 1.0), ("n2", 1.05), ("n3", 9.0)]
    assert flag_nodes(latest) == []  # 5% apart; the intel node is alone in its kind
    flags = flag_nodes(latest, threshold=0.04)
    assert [f.calibration.node_id for f in flags] == ["n2"] and flags[0].slowdown == pytest.approx(0.05)
    assert "node n2 (h2) of kind amd is +5% slower than node n1" in flags[0].describe()
    with ResultStore(db, readonly=True) as store:  # the store still opens the file as its own
        assert store.results() == []


def test_the_calibration_model_runs(tmp_path: Path) -> None:
    from ortkit.fleet import calibration_model
    from ortkit.runtime import Runtime
    import numpy as np

    path = calibration_model(tmp_path / "c.onnx")
    y = Runtime(str(path), "cpu", threads=1).run({"x": np.ones((8, 128), np.float32)})["y"]
    assert y.shape == (8, 128) and np.all(np.abs(y) <= 1)


def test_a_damaged_transfer_is_refused(tmp_path: Path) -> None:
    from ortkit.fleet import ModelTransferError, NodeAgent
    from ortkit.profiler import ProfileSpec

    path = matmul_model(tmp_path / "mm.onnx", 16)
    from ortkit.base import file_sha256

    agent = NodeAgent.__new__(NodeAgent)  # the receiving half only: no Ray runtime needed
    agent.node_id, agent.cache = "node-under-test", tmp_path / "cache"
    agent.cache.mkdir()
    spec = ProfileSpec(model=str(path), model_sha256=file_sha256(path), model_label="mm")
    assert agent._receive(spec, path.read_bytes()).read_bytes() == path.read_bytes()
    with pytest.raises(ModelTransferError, match="arrived on node node-under-t with sha256"):
        agent._receive(spec, path.read_bytes()[:-1])
    assert isinstance(ModelTransferError("x"), OrtkitError)


def test_study_on_a_fleet_needs_both_the_address_and_a_kind() -> None:
    from ortkit.base import UsageError
    from ortkit.fleet import study_targets

    assert [(t.ep, t.node, t.label) for t in study_targets("h:6379", ["amd", "intel", "amd"])] == [
        ("cpu", "amd", "amd"), ("cpu", "intel", "intel")]
    with pytest.raises(UsageError, match="--ray needs at least one --node KIND"):
        study_targets("h:6379", [])
    with pytest.raises(UsageError, match="add --ray ADDRESS"):
        study_targets(None, ["amd"])


def test_the_study_cli_refuses_a_node_without_ray() -> None:
    from tests.conftest import run_cli

    out = run_cli("study", "--node", "cpu-amd")
    assert out.returncode == 2 and "add --ray ADDRESS" in out.stderr and "Traceback" not in out.stderr
