from __future__ import annotations

import json

from click.testing import CliRunner

from ortkit.cli._main import cli
from ortkit.models import list_models


def test_models_table_lists_every_model_with_budget() -> None:
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    for name in list_models():
        assert name in result.output
    assert "% of 18k ok" in result.output and "x(batch, time, 1)" in result.output
    assert "off" not in result.output.split("budget")[-1]


def test_models_json_and_pattern() -> None:
    result = CliRunner().invoke(cli, ["models", "*lstm", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["model"] for r in rows} == {"lstm", "bilstm"}
    lstm = next(r for r in rows if r["model"] == "lstm" and r["task"] == "adding")
    assert lstm["family"] == "rnn" and lstm["task_kind"] == "regression" and lstm["causal"] is True
    assert lstm["inputs"] == {"x": "(batch, time, 2)"} and lstm["budget"]["within_tolerance"]
    assert lstm["parameters"] > 0 and lstm["recurrent_layers"] == 1


def test_models_task_filter_and_unknown_task() -> None:
    rows = json.loads(CliRunner().invoke(cli, ["models", "--task", "digits", "--json"]).output)
    assert [r["model"] for r in rows] == ["cnn2d"]
    result = CliRunner().invoke(cli, ["models", "--task", "addng"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: unknown task 'addng': did you mean adding? tasks: adding, copy-memory, digits, fashion-mnist, local-motif, seq-digits"]


def test_models_no_match_is_not_an_error() -> None:
    result = CliRunner().invoke(cli, ["models", "zzz*", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == []
