"""The claims section judges each claim from the runs it is given (synthetic runs with known
answers), a study file's [claims] table parses, and one real tiny claims run trains and caches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ortkit.report import ClaimRun, load_claims, save_claims
from ortkit.report._claims import claims_section
from ortkit.report._reportdata import Dataset
from ortkit.report._view import View
from ortkit.study import PlanFileError, parse_plan

FAMILY = {"gru": "rnn", "tcn": "cnn", "crnn": "hybrid"}


def _run(model: str, length: int, mse: float, seed: int = 0, reached: float | None = None) -> ClaimRun:
    history = ((1, 2.0, 0.16), (2, 4.0, 0.01)) if reached is None else ((1, reached, 0.01),)
    return ClaimRun(model, FAMILY[model], "adding", length, seed, 12_000, "mse", False, mse, 2, 4.0, 0.05, history)


def _verdicts(runs: list[ClaimRun]) -> dict[str, tuple[str, str]]:
    section = claims_section(View(Dataset([]), figures=False), runs)
    return {row[0]: (row[1], row[2]) for row in section.tables[0].rows}


def test_rnn_longer_memory_and_hybrid_claims_from_known_runs() -> None:
    runs = []
    for seed in (0, 1):
        runs += [_run("gru", 16, 0.01, seed, reached=8.0), _run("gru", 256, 0.02, seed), _run("tcn", 16, 0.01, seed, reached=2.0),
                 _run("tcn", 256, 0.15, seed), _run("crnn", 16, 0.0102, seed), _run("crnn", 256, 0.12, seed)]
    verdicts = _verdicts(runs)
    long_range = verdicts["RNNs carry information over longer ranges than CNNs (adding)"]
    assert long_range[1].startswith("supported") and "rnn T = 256" in long_range[1] and "cnn T = 16" in long_range[1]
    assert "(2 seeds)" in long_range[0]
    assert verdicts["RNNs are slower to train than CNNs of the same size"][1].startswith("supported (median 8 s vs 2 s)")
    assert verdicts["the hybrid CRNN matches the better of RNN and CNN"][1].startswith("partly supported")
    assert verdicts["CNNs extract local features better"][1] == "not measured: the study file names no local_task"
    local = [ClaimRun(m, FAMILY[m], "local-motif", 64, s, 12_000, "accuracy", True, v + s / 100, 2, 4.0, 0.9)
             for m, v in (("gru", 0.7), ("tcn", 0.95)) for s in (0, 1)]
    local = [dataclasses.replace(r, local=True) for r in local]
    verdict = _verdicts(runs + local)["CNNs extract local features better (local-motif)"]
    assert verdict[1] == "supported (cnn 0.955 vs rnn 0.705)" and "(2 seeds)" in verdict[0]
    chance = [dataclasses.replace(r, metric=0.5) for r in local]
    assert _verdicts(runs + chance)["CNNs extract local features better (local-motif)"][1].startswith("undecided: neither family met")


def test_claims_not_supported_and_undecided() -> None:
    runs = [_run("gru", 16, 0.15), _run("tcn", 16, 0.01, reached=1.0), _run("gru", 64, 0.16), _run("tcn", 64, 0.02)]
    verdicts = _verdicts(runs)
    assert verdicts["RNNs carry information over longer ranges than CNNs (adding)"][1].startswith("not supported")
    assert verdicts["the hybrid CRNN matches the better of RNN and CNN"][1] == "not measured"
    none = _verdicts([_run("gru", 16, 0.15), _run("tcn", 16, 0.16)])
    assert none["RNNs carry information over longer ranges than CNNs (adding)"][1].startswith("undecided")
    assert claims_section(View(Dataset([]), figures=False), []).notes


def test_claims_file_round_trip_and_damage(tmp_path: Path) -> None:
    runs = [_run("gru", 16, 0.01), _run("tcn", 64, 0.2)]
    save_claims(tmp_path / "claims.json", runs)
    assert load_claims(tmp_path / "claims.json") == tuple(runs)
    assert load_claims(tmp_path / "absent.json") == ()
    (tmp_path / "bad.json").write_text("[{\"model\": 1}]")
    with pytest.raises(Exception, match="not a readable claims file"):
        load_claims(tmp_path / "bad.json")


def test_claims_table_in_a_study_file() -> None:
    base = '[[task]]\nname = "adding"\nmodels = ["gru"]\n'
    plan = parse_plan(base + '[claims]\ntasks = { adding = 0.05 }\nmodels = ["gru", "tcn"]\nlengths = [64, 16]\nlocal_task = "local-motif"\n', "c.toml")
    assert plan.claims.lengths == (16, 64) and plan.claims.seeds == (0,) and plan.claims.tasks == (("adding", 0.05),)
    assert plan.claims.local_task == ("local-motif", 0.9) and len(plan.claims.jobs()) == 6
    with pytest.raises(PlanFileError, match=r"c.toml: claims.tasks: expected a table"):
        parse_plan(base + '[claims]\ntasks = ["adding"]\nmodels = ["gru"]\nlengths = [4]\n', "c.toml")
    with pytest.raises(PlanFileError, match=r"c.toml: claims.lengths: expected a non-empty list"):
        parse_plan(base + '[claims]\ntasks = { adding = 0.05 }\nmodels = ["gru"]\nlengths = []\n', "c.toml")
    with pytest.raises(PlanFileError, match=r"c.toml: claims.colour: unknown key"):
        parse_plan(base + '[claims]\ntasks = { adding = 0.05 }\nmodels = ["gru"]\nlengths = [4]\ncolour = 1\n', "c.toml")


@pytest.mark.slow
def test_a_tiny_claims_run_trains_once_and_is_cached(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from ortkit.study._claims import ClaimsPlan, run_claims

    plan = ClaimsPlan((("copy-memory", 0.9),), ("tcn",), (8,), (0,), train_seconds=1.0)
    lines: list[str] = []
    first = run_claims(plan, tmp_path, lines.append)
    assert len(first) == 1 and first[0].family == "cnn" and first[0].history and 0 <= first[0].metric <= 1
    assert any("claims: tcn on copy-memory T = 8 seed 0: test accuracy" in line for line in lines)
    lines.clear()
    assert run_claims(plan, tmp_path, lines.append) == first and not any("test accuracy" in line for line in lines)
