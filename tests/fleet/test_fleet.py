"""Fleet sweeps on a real local Ray cluster: cells spread over nodes of each kind, results in one
store, resumable, a node killed mid-sweep with nothing lost or duplicated, the merged report."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.fleet.conftest import start_cluster
from tests.profiler.conftest import matmul_model

pytestmark = pytest.mark.slow

BUDGET = {"warmup_runs": 1, "min_runs": 5, "max_runs": 50, "max_time_s": 0.1, "target_rel_ci": 0.5}


def _sweep_file(tmp_path: Path, kinds: list[str], batches: str = "[1, 2]") -> Path:
    matmul_model(tmp_path / "mm32.onnx", 32)
    matmul_model(tmp_path / "mm64.onnx", 64)
    targets = "".join(f'[[targets]]\nep = "cpu"\nnode = "{kind}"\n\n' for kind in kinds)
    measure = "\n".join(f"{k} = {v}" for k, v in BUDGET.items())
    path = tmp_path / "fleet.toml"
    path.write_text(f'[[models]]\nonnx = "mm32.onnx"\n\n[[models]]\nonnx = "mm64.onnx"\n\n{targets}'
                    f"[grid]\nbatch = {batches}\nthreads = [1]\n\n[measure]\n{measure}\n")
    return path


def test_a_sweep_runs_across_the_nodes_resumes_and_reports_one_row_per_kind(cluster, tmp_path: Path) -> None:
    from ortkit.fleet import read_calibrations, read_measured_by
    from ortkit.profiler import ResultStore

    path = _sweep_file(tmp_path, ["kind-a", "kind-b"])
    db = tmp_path / "fleet.db"
    out = run_cli("sweep", str(path), "--ray", cluster.address, "--db", str(db), "--report", str(tmp_path / "report"))
    assert out.returncode == 0, out.stderr
    assert "8 ok" in out.stdout
    with ResultStore(db, readonly=True) as store:
        results = store.results()
    assert len(results) == 8
    # each result was measured by a node of the kind it asked for, in that node's environment
    measured_by = read_measured_by(db)
    node_environment = {c.node_id: c.environment_key for c in read_calibrations(db)}
    nodes = set()
    for result in results:
        node_id, kind, _ = measured_by[result.key]
        assert kind == dict(result.spec.tags)["target"]
        assert result.environment.key == node_environment[node_id]
        nodes.add(node_id)
    assert len(nodes) == 3  # both kind-a nodes took cells, and the kind-b node
    # each node measured the configurations of one shape side by side, in the same rounds
    for result in results:
        partner = next(r for r in results if r is not result and r.spec.batch == result.spec.batch
                       and dict(r.spec.tags)["target"] == dict(result.spec.tags)["target"])
        assert len(result.metrics.round_ids) >= 6 and result.metrics.round_ids == partner.metrics.round_ids
    report = (tmp_path / "report" / "report.md").read_text()
    section = report.split("## Across targets and node kinds")[1].split("\n## ")[0]
    assert "| cpu@kind-a | 2 | 4 |" in section and "| cpu@kind-b | 1 | 4 |" in section
    assert "| model | shape | cpu@kind-a | cpu@kind-b | fastest | slowest / fastest |" in section
    assert section.count("| mm32 | b=") == 2 and section.count("| mm64 | b=") == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT node_id) FROM fleet_calibration").fetchone()[0] == 3
    # compare pairs the two node kinds, configuration by configuration
    compared = run_cli("compare", str(db), str(db), "--across", "target=kind-a:kind-b", "--json", "--threshold", "100")
    assert compared.returncode == 0, compared.stderr
    assert len(json.loads(compared.stdout)["rows"]) == 4

    again = run_cli("sweep", str(path), "--ray", cluster.address, "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert "8 cells: 8 already in" in again.stderr
    with ResultStore(db, readonly=True) as store:
        assert len(store.results()) == 8


def test_a_node_kind_the_cluster_lacks_is_reported(cluster, tmp_path: Path) -> None:
    path = _sweep_file(tmp_path, ["kind-b", "gpu-h100"], batches="[1]")
    out = run_cli("sweep", str(path), "--ray", cluster.address, "--db", str(tmp_path / "f.db"))
    assert out.returncode == 4, out.stderr
    assert "2 ok" in out.stdout
    assert "node kind 'gpu-h100': no live node in the cluster; its cells were not measured" in out.stdout


def test_a_node_killed_mid_sweep_loses_only_its_running_block(tmp_path: Path) -> None:
    import ray

    from ortkit.fleet import fleet_cells, run_cells
    from ortkit.profiler import Budget, ResultStore
    from ortkit.study import load_sweep
    from ortkit.study import ModelFile

    cluster, nodes = start_cluster(["kind-a", "kind-a"])
    try:
        # four blocks (one per batch) for two nodes: after the first block, the other node is
        # measuring one or about to be handed one when it dies
        sweep = load_sweep(_sweep_file(tmp_path, ["kind-a"], batches="[1, 2, 3, 4]"))
        files = [ModelFile(Path(m.value), m.name, "fp32", False, None, (), None, None) for m in sweep.models]
        cells = fleet_cells(files, sweep.targets, sweep.grid)
        assert len(cells) == 8
        db = tmp_path / "kill.db"
        killed: list[str] = []

        def progress(event) -> None:
            # after the first result, kill the OTHER node: it is measuring a block, or is handed one next
            if event.state == "done" and not killed:
                done_on = dict(event.result.environment.extra)["ray_node_id"]
                victim = next(n for n in nodes if n.node_id != done_on)
                killed.append(victim.node_id)
                cluster.remove_node(victim, allow_graceful=False)

        summary = run_cells(cells, cluster.address, db=db, budget=Budget(**BUDGET), progress=progress)
        assert killed and summary.retried >= 1
        assert not summary.unmeasured
        assert sorted(r.spec.spec_hash for r in summary.results) == sorted(c.spec.spec_hash for c in cells)
        with ResultStore(db, readonly=True) as store:
            stored = store.results()
        assert len(stored) == 8 and all(r.ok for r in stored)
        assert {r.key for r in stored} == {r.key for r in summary.results}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
