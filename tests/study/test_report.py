"""The report built from a database written with the real ResultStore: every finding is the
known answer of the synthetic data, the HTML is self-contained, empty data never crashes."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from ortkit.report._report import build_report, render_html, write_report
from ortkit.report._reportdata import Dataset, load_dataset



def _findings(dataset: Dataset) -> dict[str, list[str]]:
    return {section.title: section.findings for section in build_report(dataset, figures=False).sections}


def test_dataset_round_trips_through_the_store(synthetic: Dataset, synth) -> None:
    assert len(synthetic.rows) == len(synth.synthetic_results())
    statuses = sorted({row.status for row in synthetic.rows})
    assert statuses == ["failed", "ok", "skipped"]
    assert len(synthetic.accuracy) == 6
    assert set(synthetic.environments) == {synth.ENVIRONMENT.key}
    shares = [row for row in synthetic.rows if row.op_shares]
    assert shares and dict(shares[0].op_shares)["Gemm"] == pytest.approx(0.15)


def test_crossover_findings_match_the_known_answer(synthetic: Dataset) -> None:
    text = " ".join(_findings(synthetic)["Crossover: where the CNN overtakes the RNN"])
    found = {m.group(1): float(m.group(2)) for m in re.finditer(r"tcn becomes faster than (\w+) at T ~ (\d+)", text)}
    assert found["lstm"] == pytest.approx(1600, rel=0.03)
    assert found["gru"] == pytest.approx(2500, rel=0.03)
    # The crossover comes with its interval (where the ratio's CI bounds cross 1).
    interval = re.search(r"tcn becomes faster than lstm at T ~ \d+ \(95% CI T = (\d+) to (\d+)", text)
    assert interval and 1024 < float(interval.group(1)) <= 1600 <= float(interval.group(2)) < 4096


def test_no_crossover_stated_in_words(tmp_path: Path, synth) -> None:
    # make the tcn 100x slower: it never overtakes within T <= 4096
    db = synth.build_db(tmp_path / "slow.db", synth.synthetic_results(factor={"tcn": 100.0}))
    text = " ".join(_findings(load_dataset(db))["Crossover: where the CNN overtakes the RNN"])
    assert "no crossover in the measured range (T = 16 to 4096)" in text
    assert "T ~" not in text


def test_scaling_exponents_and_ratios(synthetic: Dataset) -> None:
    findings = _findings(synthetic)
    latency = " ".join(findings["Latency vs sequence length"])
    assert re.search(r"lstm latency grows as T\^1\.0\d", latency) or "lstm latency grows as T^0.99" in latency
    assert re.search(r"tcn latency grows as T\^0\.(49|50|51)", latency)
    precision = " ".join(findings["INT8 and FP16: speed-up and accuracy change"])
    assert re.search(r"int8-dynamic lstm is (1\.9\d|2\.0\d)x the speed of FP32", precision)
    assert "accuracy 0.97 -> 0.966 (-0.004)" in precision
    torch = " ".join(findings["onnxruntime vs PyTorch"])
    assert re.search(r"onnxruntime runs lstm (1\.9\d|2\.0\d)x faster than torch-eager", torch)
    problems = " ".join(findings["Unstable, skipped and failed configurations"])
    assert "1 skipped, 1 failed" in problems and "(1 unstable)" in problems


def test_problem_configurations_are_listed(synthetic: Dataset) -> None:
    section = next(s for s in build_report(synthetic, figures=False).sections if s.title.startswith("Unstable"))
    cells = " ".join(" ".join(row) for table in section.tables for row in table.rows)
    assert "signal 9 (SIGKILL) out of memory" in cells
    assert "openvino" in cells and "not available" in cells
    assert "tcn ort/cpu b=2 t=64" in cells


def test_html_is_self_contained_with_every_figure(synthetic_report) -> None:
    page = synthetic_report.html.read_text()
    assert not re.search(r"https?:", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(synthetic_report.figures) >= 8
    for data in images:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"http" not in png
    names = {p.stem for p in synthetic_report.figures}
    assert {"latency-cpu", "throughput-cpu", "streaming-cpu", "memory-cpu", "pareto-seq-digits", "precision-speedup",
            "ort-vs-torch", "ops-cpu"} <= names


def test_markdown_references_written_figures(synthetic_report) -> None:
    text = synthetic_report.markdown.read_text()
    refs = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", text)
    assert len(refs) == len(synthetic_report.figures)
    for ref in refs:
        assert (synthetic_report.markdown.parent / ref).is_file()
    assert "## Environment" in text and "AMD EPYC (synthetic)" in text


def test_empty_database_gives_notes_not_empty_figures(tmp_path: Path, synth) -> None:
    db = synth.build_db(tmp_path / "empty.db", [], accuracy=False)
    paths = write_report(load_dataset(db), tmp_path / "out")
    assert paths.figures == ()
    page = paths.html.read_text()
    assert "<img" not in page
    assert "No offline FP32 latency measurements" in page
    assert "0 configurations: 0 measured (0 unstable), 0 skipped, 0 failed." in page


def test_only_failures_never_crash(tmp_path: Path, synth) -> None:
    results = [synth.make_result("lstm", 1, 64, status="failed", message="boom"), synth.make_result("tcn", 1, 64, status="skipped", message="no EP")]
    db = synth.build_db(tmp_path / "fail.db", results, accuracy=False)
    report = build_report(load_dataset(db))
    assert report.figures == []
    assert "boom" in render_html(report)


def test_single_length_model_is_not_fitted(tmp_path: Path, synth) -> None:
    db = synth.build_db(tmp_path / "one.db", [synth.make_result("lstm", 1, 64), synth.make_result("tcn", 1, 64)], accuracy=False)
    report = build_report(load_dataset(db))
    latency = next(s for s in report.sections if s.title.startswith("Latency"))
    assert latency.findings == [] and latency.tables == []
    crossover = next(s for s in report.sections if s.title.startswith("Crossover"))
    assert "not enough common sequence lengths" in " ".join(crossover.findings)


def test_environments_are_never_merged(tmp_path: Path, synth) -> None:
    results = synth.synthetic_results() + synth.synthetic_results(factor={"lstm": 2.0}, environment=synth.other_environment())
    db = synth.build_db(tmp_path / "two.db", results)
    report = build_report(load_dataset(db), figures=False)
    crossover = next(s for s in report.sections if s.title.startswith("Crossover"))
    labels = {row[0] for table in crossover.tables for row in table.rows}
    assert len(labels) == 2 and all("[env " in label for label in labels)
    assert any("2 environments" in s for s in report.summary + [f for sec in report.sections for f in sec.findings])


def test_unwritable_output_is_a_clear_error(synthetic: Dataset, tmp_path: Path) -> None:
    from ortkit.base import OrtkitError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OrtkitError, match="cannot write the report"):
        write_report(synthetic, blocker / "out")


def test_cpu_fallback_is_shown_per_target(tmp_path: Path, synth) -> None:
    results = [
        synth.make_result("lstm", 1, 64, ep="openvino", node_assignment=(("OpenVINOExecutionProvider", 7), ("CPUExecutionProvider", 3))),
        synth.make_result("tcn", 1, 64, ep="openvino", node_assignment=(("OpenVINOExecutionProvider", 12),)),
        synth.make_result("gru", 1, 64, node_assignment=(("CPUExecutionProvider", 9),)),
    ]
    dataset = load_dataset(synth.build_db(tmp_path / "r.db", results, accuracy=False))
    section = next(s for s in build_report(dataset, figures=False).sections if s.title == "Where the nodes ran")
    assert section.findings == [
        "On openvino, lstm ran 7 of 10 nodes on OpenVINOExecutionProvider; 3 fell back to the CPU EP."
    ]
    fallback = {(row[0], row[1]): row[3] for row in section.tables[0].rows}
    assert fallback == {("openvino", "lstm"): "30%", ("openvino", "tcn"): "0%", ("cpu", "gru"): "0%"}
