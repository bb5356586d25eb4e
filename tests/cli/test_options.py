"""One grammar for KEY=VALUE options (`export --set`, `train --set`, `train --task-option`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ortkit.base import UsageError
from ortkit.cli import cli
from ortkit.cli._options import parse_assignments


def test_values_are_typed_the_same_way_everywhere() -> None:
    got = parse_assignments(["a=1", "b=2.5", "c=true", "C=False", "d=8,16", "e=name", "f=[8, 16]", "g=3e-3",
                             "h={\"k\": 1}", "i=1,x", "j="])
    assert got == {"a": 1, "b": 2.5, "c": True, "C": False, "d": [8, 16], "e": "name", "f": [8, 16], "g": 0.003,
                   "h": {"k": 1}, "i": "1,x", "j": ""}


@pytest.mark.parametrize("bad, message", [
    (["novalue"], "expected KEY=VALUE"), (["=3"], "expected KEY=VALUE"), (["a b=3"], "expected KEY=VALUE"),
    (["a=1", "a=2"], "given twice"),
])
def test_malformed_items_are_usage_errors(bad: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_assignments(bad, "--set")


@pytest.mark.parametrize("command", [["export", "gru", "--out", "x"], ["train", "gru", "--task", "adding", "--out", "x"]])
def test_export_and_train_read_set_alike(command: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A list written as comma numbers reaches both commands as a list: both refuse the same bad key
    # with the same grammar error before doing any work.
    result = CliRunner().invoke(cli, [*command[:-1], str(tmp_path / "x"), "--set", "hidden_size"])
    assert result.exit_code == 2, result.output
    assert "bad --set 'hidden_size': expected KEY=VALUE" in result.output
