"""Study files: the shipped quick and default studies parse, the copies in docs/examples are the
shipped files, a user's file runs through `ortkit study --plan`, and every mistake is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ortkit.study import BUILTIN_PLANS, DEFAULT, QUICK, PlanFileError, builtin_plan, load_plan, parse_plan
from ortkit.study._plan import builtin_text

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = '[[task]]\nname = "seq-digits"\nmodels = ["tcn"]\n'


def test_shipped_studies_answer_at_least_three_scenarios() -> None:
    assert QUICK == builtin_plan("quick") and DEFAULT == builtin_plan("default")
    assert QUICK.tasks[0].models == ("lstm", "gru", "tcn") and QUICK.time == (16, 64, 256, 1024)
    for plan in (QUICK, DEFAULT):
        assert len(plan.scenarios) >= 3
        assert {s.task for s in plan.scenarios} <= {t.task for t in plan.tasks}
    assert {s.kind for s in DEFAULT.scenarios} == {"streaming", "offline", "server", "edge"}
    server = next(s for s in DEFAULT.scenarios if s.kind == "server")
    assert server.clients in DEFAULT.batch  # its batch is measured, or the verdict has nothing to read


@pytest.mark.parametrize("name", BUILTIN_PLANS)
def test_docs_examples_are_the_shipped_files(name: str) -> None:
    assert (ROOT / "docs" / "examples" / f"study-{name}.toml").read_text() == builtin_text(name)


def test_a_minimal_file_gets_the_documented_defaults() -> None:
    plan = parse_plan(MINIMAL, "mini.toml")
    assert plan.name == "mini" and plan.batch == (1,) and plan.time == (64,) and plan.precision == ("fp32",)
    assert plan.chunk == () and plan.scenarios == () and plan.tasks[0].train_seconds == 60.0


@pytest.mark.parametrize(("text", "message"), [
    ("name = 'x'\n", "x.toml: task: a study needs at least one [[task]]"),
    (MINIMAL + "[grid]\nbatchs = [1]\n", "x.toml: grid.batchs: unknown key"),
    (MINIMAL + "[grid]\ntime = [0]\n", "x.toml: grid.time: expected a list of integers >= 1"),
    (MINIMAL + "[grid]\nprecision = ['int4']\n", "x.toml: grid.precision"),
    ("[[task]]\nname = 'seq-digits'\nmodels = []\n", "x.toml: task[0].models: expected a non-empty list"),
    (MINIMAL + "[[scenario]]\nname = 's'\nkind = 'offline'\ntask = 'adding'\nlength = 4\n", "scenario[0].task: 'adding' is not one of"),
    (MINIMAL + "[[scenario]]\nname = 's'\nkind = 'offline'\ntask = 'seq-digits'\n", "an offline scenario needs 'length'"),
    ("[[task]\n", "x.toml: not valid TOML"),
    ("colour = 1\n" + MINIMAL, "x.toml: colour: unknown key"),
    (MINIMAL + "colour = 1\n", "x.toml: task[0].colour: unknown key"),
])
def test_mistakes_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(PlanFileError) as error:
        parse_plan(text, "x.toml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_cli_reads_a_plan_and_refuses_bad_ones(tmp_path: Path) -> None:
    from ortkit.cli import cli as main

    runner = CliRunner()
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nbatch = 'one'\n" + MINIMAL)
    result = runner.invoke(main, ["study", "--plan", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "grid.batch: expected a list of integers" in result.output
    result = runner.invoke(main, ["study", "--quick", "--plan", str(bad)])
    assert result.exit_code == 2 and "exclude each other" in result.output
    result = runner.invoke(main, ["study", "--plan", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "cannot read the study file" in result.output
    assert load_plan(ROOT / "docs" / "examples" / "study-quick.toml") == QUICK
