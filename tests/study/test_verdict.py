"""The verdict on the synthetic results (known latency laws, see conftest.py): each scenario's
winner, margin and reason are the answers the laws give, and a tie is called a tie."""

from __future__ import annotations

from pathlib import Path

import pytest

from ortkit.report import Scenario, ScenarioError, load_scenarios, margin, report_database, scenario_from_dict
from ortkit.report._report import APPENDIX, build_report, render_html, render_markdown
from ortkit.report._reportdata import Dataset, load_dataset
from ortkit.report._verdict import HEADERS, verdict_section
from ortkit.report._view import View


def _rows(dataset: Dataset, *scenarios: Scenario) -> list[dict[str, str]]:
    section = verdict_section(View(dataset, figures=False), scenarios)
    return [dict(zip(HEADERS, row)) for table in section.tables for row in table.rows]


def _one(dataset: Dataset, **fields: object) -> dict[str, str]:
    rows = _rows(dataset, Scenario(name="s", task="seq-digits", **fields))  # type: ignore[arg-type]
    assert len(rows) == 1 and rows[0]["target"] == "cpu"
    return rows[0]


def test_offline_long_sequences_go_to_the_batched_cnn(synthetic: Dataset) -> None:
    row = _one(synthetic, kind="offline", length=4096)
    # per sequence at batch 8: tcn 0.4 * sqrt(8) * 64 / 8, gru 0.008 * sqrt(8) * 4096 / 8 -> ratio 1.28
    assert row["deploy"] == "tcn" and "at batch 8" in row["objective"]
    assert row["margin over the other family"].startswith("1.2") and row["margin over the other family"].endswith("vs gru")
    assert "cannot separate" not in row["margin over the other family"]
    assert row["accuracy"] == "accuracy 0.96" and row["runner-up"] == "gru"


def test_offline_short_sequences_go_to_int8_gru_unless_the_slack_excludes_it(synthetic: Dataset) -> None:
    row = _one(synthetic, kind="offline", length=256)
    assert row["deploy"] == "gru int8-dynamic" and row["margin over the other family"].startswith("3.1")  # tcn int8 3.2 / 1.024
    strict = _one(synthetic, kind="offline", length=256, accuracy_slack=0.0)
    assert strict["deploy"] == "lstm" and "falls outside the accuracy slack" in strict["why"]


def test_streaming_picks_the_fastest_step_within_the_arrival_budget(synthetic: Dataset) -> None:
    row = _one(synthetic, kind="streaming", chunk=1, step_ms=10.0)
    assert row["deploy"] == "gru" and row["margin over the other family"].startswith("50.") and "ms/step" in row["objective"]
    tight = _one(synthetic, kind="streaming", chunk=16, step_ms=0.01)  # 0.16 ms per chunk: nothing is that fast
    assert tight["deploy"] == "none" and "no model meets the budget" in tight["why"]


def test_edge_memory_and_latency_budgets(synthetic: Dataset) -> None:
    # peak RSS is 50 + 0.01 * b * T MiB: 60.24 MiB at T = 1024
    assert _one(synthetic, kind="edge", length=1024, memory_mib=60.0, p99_ms=100.0)["deploy"] == "none"
    row = _one(synthetic, kind="edge", length=1024, memory_mib=100.0, p99_ms=9.0)  # only gru (8.2 ms) is fast enough
    assert row["deploy"] == "gru" and row["margin over the other family"] == "-" and "no model of another family" in row["why"]


def test_server_uses_the_batch_of_its_clients(synthetic: Dataset) -> None:
    row = _one(synthetic, kind="server", length=1024, clients=8, p99_ms=100.0)
    assert row["deploy"] == "gru" and "at batch 8" in row["objective"]
    assert _one(synthetic, kind="server", length=1024, clients=3, p99_ms=100.0)["why"] == "nothing was measured at this scenario's shape"


def test_a_tie_is_called_a_tie(tmp_path: Path, synth) -> None:
    # tcn scaled to gru's latency at T = 256 (the same noise draws): no winner on noise
    db = synth.build_db(tmp_path / "tie.db", synth.synthetic_results(factor={"tcn": 2.048 / 6.4}))
    row = _one(load_dataset(db), kind="edge", length=256, memory_mib=1000.0, p99_ms=100.0, accuracy_slack=0.01)
    assert "cannot separate them" in row["margin over the other family"]


def test_margin_ratio_and_interval() -> None:
    wide = margin([1.0, 1.1, 0.9, 1.05, 0.95] * 4, [1.0, 1.12, 0.88, 1.04, 0.96] * 4)
    assert not wide.separated and "cannot separate them" in wide.describe()
    clear = margin([1.0, 1.01, 0.99] * 10, [2.0, 2.02, 1.98] * 10)
    assert clear.separated and clear.ratio == pytest.approx(2.0) and clear.low > 1.9


def test_the_verdict_opens_the_report_and_the_sentences_close_it(synthetic: Dataset) -> None:
    scenarios = (Scenario("batch", "offline", "seq-digits", length=1024),)
    report = build_report(synthetic, figures=False, scenarios=scenarios)
    assert report.sections[0].title == "Verdict: what to deploy" and report.summary
    page = render_html(report)
    assert page.index("Verdict: what to deploy") < page.index("Crossover") < page.index(APPENDIX)
    markdown = render_markdown(report)
    assert markdown.index("## Verdict") < markdown.index(f"## {APPENDIX}")


def test_report_reads_the_scenarios_beside_the_database(tmp_path: Path, synth) -> None:
    db = synth.build_db(tmp_path / "results.db")
    (tmp_path / "study.toml").write_text('[[scenario]]\nname = "b"\nkind = "offline"\ntask = "seq-digits"\nlength = 4096\n')
    paths = report_database(db, tmp_path / "report")
    text = paths.markdown.read_text()
    assert "| b (offline: seq-digits: T = 4096, max sequences/s per core) | cpu | tcn |" in text


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "x", "kind": "batch", "task": "t"}, "kind must be one of streaming, offline, server, edge"),
    ({"name": "x", "kind": "edge", "task": "t", "length": 4, "p99_ms": 1.0}, "an edge scenario needs 'memory_mib'"),
    ({"name": "x", "kind": "offline", "task": "t", "length": 0}, "'length' must be a positive integer"),
    ({"name": "x", "kind": "streaming", "task": "t", "chunk": 1, "step_ms": -1}, "'step_ms' must be a positive number"),
    ({"name": "x", "kind": "offline", "task": "t", "length": 4, "lenght": 5}, "unknown key(s) lenght"),
    ({"kind": "offline", "task": "t", "length": 4}, "'name' must be a non-empty string"),
])
def test_invalid_scenarios_are_one_line_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=None) as error:
        scenario_from_dict(data)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_broken_study_file_beside_the_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text("[[scenario]\n")
    with pytest.raises(ScenarioError, match="not a readable TOML study file"):
        load_scenarios(tmp_path / "study.toml")
    assert load_scenarios(tmp_path / "absent.toml") == ()
