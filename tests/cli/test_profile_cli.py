"""`ortkit profile` end to end: real workers, a real SQLite file, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from ortkit.cli._main import cli


def _model(path: Path, batch: str | int = "batch") -> Path:
    w = numpy_helper.from_array(np.eye(8, dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, "time", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, "time", 8])], [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_profile_json_table_and_resume(tmp_path: Path) -> None:
    model = _model(tmp_path / "seq.onnx")
    db = tmp_path / "r.db"
    args = ["profile", str(model), "--batch", "1,2", "--time", "4", "--threads", "1", "--max-time", "0.05", "--db", str(db)]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"]["ok"] == 2 and data["measured"] == 2
    row = data["results"][0]
    assert row["stats"]["p50"] > 0 and row["metrics"]["throughput_timesteps_s"] > 0 and row["spec"]["time"] == 4
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "p50 ms" in table.output and "resumed 2" in table.output


def test_profile_bad_input_is_one_line(tmp_path: Path) -> None:
    model = _model(tmp_path / "fixed.onnx", batch=1)
    db = tmp_path / "r.db"
    runner = CliRunner()
    cases = [
        (["profile", str(model), "--ep", "nonsense", "--time", "4", "--db", str(db)], "unknown execution provider 'nonsense'; available here: cpu"),
        (["profile", str(model), "--batch", "4", "--time", "4", "--db", str(db)], "cannot take batch=4"),
        (["profile", str(tmp_path / "nope.onnx"), "--db", str(db)], "model file not found"),
        (["profile", str(model), "--batch", "x", "--db", str(db)], "'x' is not a valid int"),
        (["profile", str(model), "--time", "4", "--db", str(tmp_path / "no" / "r.db")], "does not exist"),
    ]
    for args, message in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code in (1, 2), (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    foreign = tmp_path / "foreign.db"
    foreign.write_text("not sqlite")
    result = runner.invoke(cli, ["profile", str(model), "--time", "4", "--db", str(foreign)])
    assert result.exit_code == 1 and "not an ortkit results database" in result.output
    assert foreign.read_text() == "not sqlite"


def test_profile_target_runs_workers_in_the_named_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    monkeypatch.setenv("ORTKIT_HOME", str(tmp_path / "home"))
    added = CliRunner().invoke(cli, ["target", "add", "here", "--python", sys.executable])
    assert added.exit_code == 0, added.output
    model = _model(tmp_path / "seq.onnx")
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["profile", str(model), "--target", "here", "--time", "4", "--max-time", "0.05", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["results"][0]
    assert row["status"] == "ok"
    assert ["target", "here"] in [list(tag) for tag in row["spec"]["tags"]]


def test_profile_target_errors_are_one_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ORTKIT_HOME", str(tmp_path / "home"))
    model = _model(tmp_path / "seq.onnx")
    unknown = CliRunner().invoke(cli, ["profile", str(model), "--target", "nosuch", "--time", "4", "--db", str(tmp_path / "r.db")])
    assert unknown.exit_code == 1 and "nosuch" in unknown.output and "Traceback" not in unknown.output
    both = CliRunner().invoke(cli, ["profile", str(model), "--target", "x", "--python", "/usr/bin/python3", "--time", "4"])
    assert both.exit_code == 2 and "--target" in both.output


def test_profile_exits_4_when_a_configuration_failed_and_keeps_the_rest(tmp_path: Path) -> None:
    from onnx import TensorProto as T

    shape = numpy_helper.from_array(np.array([7], dtype=np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "bad",
                              [helper.make_tensor_value_info("x", T.FLOAT, ["batch", 8])], [helper.make_tensor_value_info("y", T.FLOAT, [7])], [shape])
    bad = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    bad.ir_version = 8
    onnx.save(bad, tmp_path / "bad.onnx")
    good = _model(tmp_path / "good.onnx")
    db = tmp_path / "r.db"
    result = CliRunner().invoke(cli, ["profile", str(good), str(tmp_path / "bad.onnx"), "--time", "4", "--max-time", "0.05", "--db", str(db)])
    assert result.exit_code == 4, result.output
    assert "1 ok, 1 failed" in result.output and "failed: bad" in result.output and "Traceback" not in result.output


def test_profile_summary_prints_messages_verbatim(tmp_path: Path) -> None:
    # rich markup used to eat "[torch]" out of "pip install 'ortkit[torch]'".
    import io

    from ortkit.profiler import ProfileSpec, Result, SweepSummary
    from ortkit.cli._console import print_summary
    from ortkit.profiler._environment import collect_environment

    env = collect_environment(with_gpus=False)
    spec = ProfileSpec(model="m.onnx", model_sha256="0" * 64, model_label="m[1]", runner="torch-eager", time=4)
    summary = SweepSummary(db="r.db", environment=env)
    summary.results.append(Result(spec=spec, environment=env, status="unavailable", message="torch is missing (pip install 'ortkit[torch]')"))
    out = io.StringIO()
    print_summary(summary, file=out)
    assert "pip install 'ortkit[torch]'" in out.getvalue() and "m[1]" in out.getvalue()


def test_empty_grid_and_empty_database_are_one_line_errors(tmp_path: Path) -> None:
    model = _model(tmp_path / "seq.onnx")
    runner = CliRunner()
    empty_ep = runner.invoke(cli, ["profile", str(model), "--ep", ",", "--time", "4", "--db", str(tmp_path / "r.db")])
    assert empty_ep.exit_code == 2 and "no EP given" in empty_ep.output
    from ortkit.profiler import ResultStore

    ResultStore(tmp_path / "empty.db").close()
    report = runner.invoke(cli, ["report", str(tmp_path / "empty.db"), "--out", str(tmp_path / "rep")])
    assert report.exit_code == 1 and "holds no results" in report.output
    assert len(report.output.strip().splitlines()) == 1


def test_profile_interleaves_a_grid_and_isolates_a_single_configuration(tmp_path: Path) -> None:
    model = _model(tmp_path / "seq.onnx")
    base = ["profile", str(model), "--time", "4", "--threads", "1", "--max-time", "0.05", "--processes", "1", "--json"]
    grid = CliRunner().invoke(cli, [*base, "--batch", "1,2", "--db", str(tmp_path / "grid.db")])
    assert grid.exit_code == 0, grid.output
    rows = json.loads(grid.output)["results"]
    assert len(rows) == 2
    assert all(r["metrics"]["stop_reason"] in ("converged", "max_rounds") and len(r["metrics"]["round_p50_ms"]) >= 6 for r in rows)
    one = CliRunner().invoke(cli, [*base, "--batch", "1", "--db", str(tmp_path / "one.db")])
    assert one.exit_code == 0, one.output
    (row,) = json.loads(one.output)["results"]
    assert row["metrics"]["stop_reason"] in ("converged", "max_runs", "max_time") and not row["metrics"].get("round_p50_ms")
    forced = CliRunner().invoke(cli, [*base, "--batch", "1,2", "--mode", "isolated", "--db", str(tmp_path / "iso.db")])
    assert forced.exit_code == 0, forced.output
    assert all(not r["metrics"].get("round_p50_ms") for r in json.loads(forced.output)["results"])
