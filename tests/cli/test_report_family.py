"""`ortkit report --family MODEL=FAMILY`: the family of files that do not carry `ortkit.family`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.cli._main import cli
from ortkit.profiler import profile
from tests.profiler.conftest import FAST, lstm_model


def test_report_family_pairs_plain_files(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    models = [lstm_model(tmp_path / "recurrent.onnx"), lstm_model(tmp_path / "other.onnx", hidden=8)]
    profile(models, ["cpu"], [1], [8, 32], [1], db=tmp_path / "r.db", budget=FAST)
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "r.db"), "--out", str(tmp_path / "a"), "--json"])
    assert result.exit_code == 0, result.output
    assert "No pair of a CNN and an RNN" in (tmp_path / "a" / "report.md").read_text()  # the files do not say
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "r.db"), "--out", str(tmp_path / "b"),
                                      "--family", "recurrent=rnn", "--family", "other=cnn"])
    assert result.exit_code == 0, result.output
    assert "| other | recurrent |" in (tmp_path / "b" / "report.md").read_text()


@pytest.mark.parametrize(("item", "needle"), [("nope=rnn", "no model of that name in the results; models: recurrent"),
                                              ("recurrent=transformer", "the family is one of rnn, cnn, hybrid")])
def test_report_family_errors_are_one_line(tmp_path: Path, item: str, needle: str) -> None:
    profile([lstm_model(tmp_path / "recurrent.onnx")], ["cpu"], [1], [8], [1], db=tmp_path / "r.db", budget=FAST)
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "r.db"), "--out", str(tmp_path / "a"), "--family", item])
    assert result.exit_code == 2, result.output
    assert needle in result.output and len(result.output.strip().splitlines()) == 1
