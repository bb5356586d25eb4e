"""What a report is made from: measured rows, accuracies and environments, and how they group.

A `Row` is one configuration's result, flattened from the results store into the fields the
report needs (raw samples kept, statistics derived). `Dataset` holds the rows plus the accuracy of
each model file (measured by `ortkit study`, stored next to the results) and the environments.
The report and compare code work only on these, so they can be tested with synthetic rows.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ortkit.profiler import ProfileSpec
from ortkit.profiler import Stats, throughput

__all__ = ["FAMILIES", "assign_families", "Row", "Accuracy", "Dataset", "family_of", "most_common", "load_dataset", "record_accuracy", "load_accuracy", "row_from_result"]

FAMILIES = ("rnn", "cnn", "hybrid")


@dataclass(frozen=True)
class Accuracy:
    """A model file's score on its task's test split (computed with onnxruntime on that file)."""

    model_sha256: str
    model_label: str
    task: str
    metric: str
    higher_is_better: bool
    value: float
    precision: str = "fp32"
    #: the task's own sequence length (what the model was trained and scored at); None when not
    #: recorded (accuracies stored before it was)
    length: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accuracy:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Row:
    """One configuration's outcome.

    ``status`` is ``"ok"`` (samples present), ``"failed"`` (the worker raised, crashed or hung;
    ``message`` says how) or ``"skipped"`` (not measurable here, e.g. EP unavailable).
    ``samples_ms`` are the raw latencies of one call each (for streaming, one chunk call).
    """

    spec: ProfileSpec
    status: str
    environment_key: str
    samples_ms: tuple[float, ...] = ()
    message: str | None = None
    family: str | None = None
    task: str | None = None
    peak_rss_bytes: float | None = None
    rss_growth_bytes: float | None = None
    #: RSS of the bare worker before the model was loaded (numpy and onnxruntime imported); None
    #: for rows stored before it was recorded
    baseline_rss_bytes: float | None = None
    session_ms: float | None = None
    first_run_ms: float | None = None
    op_shares: tuple[tuple[str, float], ...] = ()
    node_assignment: tuple[tuple[str, int], ...] = ()
    #: the stored throughput (derived once by the profiler from the pooled samples); None for a
    #: row built without one, which then derives it with the same function
    throughput_samples_s: float | None = None
    #: FLOPs of one call (counted on the graph at this shape) and the rate achieved at the median
    flops: float | None = None
    gflops_s: float | None = None
    flops_note: str | None = None  # set when the count is only a lower bound (ops left uncounted)
    extra: tuple[tuple[str, Any], ...] = field(default=())
    #: per-round medians and round ids (interleaved mode) and per-process medians: the groups the
    #: hierarchical statistics and the paired ratios come from (`ortkit.profiler.Groups`)
    round_p50_ms: tuple[float, ...] = ()
    round_ids: tuple[str, ...] = ()
    process_p50_ms: tuple[float, ...] = ()
    #: the noise recorded while measuring: 1-minute load average, CPU steal share, runnable
    #: processes of other programs
    load_1m: float | None = None
    cpu_steal: float | None = None
    busy_processes: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and len(self.samples_ms) > 0

    @property
    def stats(self) -> Stats:
        return Stats.from_samples(self.samples_ms)

    @property
    def model_memory_bytes(self) -> float | None:
        """The model's own memory: the worker's peak RSS above its bare-process baseline (session,
        weights, arena, inputs and outputs); None when either figure is missing."""
        if self.peak_rss_bytes is None or self.baseline_rss_bytes is None:
            return None
        return max(0.0, float(self.peak_rss_bytes) - float(self.baseline_rss_bytes))

    @property
    def median_ms(self) -> float:
        return float(np.median(self.samples_ms)) if self.samples_ms else math.nan

    @property
    def unstable(self) -> bool:
        """`ortkit.profiler.robust_unstable`: the samples' IQR and the spread of round medians."""
        from ortkit.profiler import Groups, robust_unstable

        if not self.ok:
            return False
        stats = self.stats
        return robust_unstable(Groups.of(self), stats.iqr_ratio, stats.n)

    @property
    def base(self) -> str:
        """The model this row measures, regardless of precision and runner: ties an INT8 file,
        its FP32 original and the PyTorch baseline together."""
        tags = dict(self.spec.tags)
        return tags.get("base") or self.spec.zoo_name or self.spec.model_label

    @property
    def target(self) -> str:
        """Where it ran: the EP spec, plus the target environment when not the local one."""
        tags = dict(self.spec.tags)
        where = tags.get("target")
        return f"{self.spec.ep}@{where}" if where and where != "local" else self.spec.ep

    @property
    def throughput(self) -> float:
        """Samples per second (at the median latency; all clients together under concurrency)."""
        if not self.ok:
            return math.nan
        if self.throughput_samples_s is not None:
            return self.throughput_samples_s
        return throughput(self.spec, self.stats.p50)[0] or math.nan

    @property
    def per_step_ms(self) -> float:
        """Latency per time step of a streaming chunk (or of the whole sequence offline)."""
        steps = self.spec.chunk or self.spec.time
        return self.median_ms / steps if self.ok and steps else math.nan

    def label(self) -> str:
        spec = self.spec
        name = self.base if spec.precision == "fp32" else f"{self.base} {spec.precision}"
        if "tuned" in dict(spec.tags):
            name += " (tuned)"
        return name if spec.runner == "ort" else f"{name} ({spec.runner})"


def family_of(zoo_name: str | None) -> str | None:
    """The zoo family of a model name, or None when the name is not in the zoo."""
    if not zoo_name:
        return None
    try:
        from ortkit.models import get_spec

        return get_spec(zoo_name).family
    except Exception:  # noqa: BLE001 - an unknown or unloadable name simply has no family
        return None


def most_common(values: Iterable[Any]) -> Any:
    """The most frequent value (ties: the first seen), or None for no values."""
    counts = Counter(values)
    if not counts:
        return None
    best = max(counts.values())
    for value in counts:
        if counts[value] == best:
            return value
    return None


@dataclass
class Dataset:
    """Everything a report or comparison reads."""

    rows: list[Row]
    accuracy: dict[str, Accuracy] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""
    #: stored rows that could not be read back (edited or damaged file): (key, reason)
    damaged: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok_rows(self) -> list[Row]:
        return [row for row in self.rows if row.ok]

    def select(self, predicate: Callable[[Row], bool]) -> list[Row]:
        return [row for row in self.ok_rows if predicate(row)]

    def accuracy_of(self, row: Row) -> Accuracy | None:
        return self.accuracy.get(row.spec.model_sha256)

    def family(self, row: Row) -> str | None:
        return row.family or family_of(row.spec.zoo_name)


FAMILIES = ("rnn", "cnn", "hybrid")


def assign_families(dataset: Dataset, families: Mapping[str, str]) -> Dataset:
    """The dataset with the family of each model named in ``families`` (model label -> family)
    set as given: for files that carry no ``ortkit.family`` (not exported by ortkit) or a wrong one.

    Raises:
        UsageError: an unknown family, or a label no row has (the message lists the labels).
    """
    from dataclasses import replace

    from ortkit.base import UsageError

    labels = sorted({row.base for row in dataset.rows} | {row.spec.model_label for row in dataset.rows})
    for label, family in families.items():
        if family not in FAMILIES:
            raise UsageError(f"--family {label}={family}: the family is one of {', '.join(FAMILIES)}")
        if label not in labels:
            raise UsageError(f"--family {label}: no model of that name in the results; models: {', '.join(labels)}")
    rows = [replace(row, family=families.get(row.base, families.get(row.spec.model_label, row.family))) for row in dataset.rows]
    return replace(dataset, rows=rows)


# -- loading from a results database ---------------------------------------------------------------

def row_from_result(result: Any) -> Row:
    """Flatten a store `Result` into a report `Row`."""
    spec = result.spec
    tags = dict(spec.tags)
    metrics = result.metrics
    shares = ()
    if result.op_profile and isinstance(result.op_profile.get("op_type_share"), dict):
        shares = tuple((str(k), float(v)) for k, v in result.op_profile["op_type_share"].items())
    status = "skipped" if result.status == "unavailable" else result.status
    return Row(
        spec=spec, status=status, environment_key=result.environment.key, samples_ms=tuple(result.samples_ms),
        message=result.message, family=tags.get("family") or spec.family or family_of(spec.zoo_name), task=tags.get("task"),
        peak_rss_bytes=metrics.peak_rss_bytes, rss_growth_bytes=metrics.rss_growth_bytes,
        baseline_rss_bytes=metrics.baseline_rss_bytes,
        session_ms=metrics.session_create_ms, first_run_ms=metrics.first_run_ms, op_shares=shares,
        node_assignment=tuple((str(ep), int(count)) for ep, count in metrics.node_assignment),
        throughput_samples_s=metrics.throughput_samples_s, flops=metrics.flops, gflops_s=metrics.gflops_s,
        flops_note=metrics.flops_note, round_p50_ms=tuple(metrics.round_p50_ms),
        round_ids=tuple(metrics.round_ids), process_p50_ms=tuple(metrics.process_p50_ms), load_1m=metrics.load_1m,
        cpu_steal=metrics.cpu_steal, busy_processes=metrics.busy_processes,
    )


def load_dataset(db: str | Path, *, environment: str | None = None) -> Dataset:
    """Read a results database (read-only) into a `Dataset`, accuracies included.

    Raises:
        StoreError: the file is missing, not an ortkit database, or of a newer schema.
    """
    from ortkit.profiler import ResultStore, StoreError

    with ResultStore(db, readonly=True) as store:
        environments = {key: env.to_dict() for key, env in store.environments().items()}
        if environment is not None and environment not in environments:
            # a key prefix, as `ortkit env` and the report print it
            matches = [key for key in environments if key.startswith(environment)]
            if len(matches) != 1:
                raise StoreError(f"{db}: environment {environment!r} matches {len(matches)} of its environments "
                                 f"({', '.join(environments) or 'none'})")
            environment = matches[0]
        results = _latest_baselines(store.results(environment=environment))
        damaged = list(store.damaged)
        accuracy = {}
        for sha, data in store.accuracies().items():
            try:
                accuracy[sha] = Accuracy.from_dict(data)
            except (TypeError, ValueError):
                continue  # a damaged accuracy entry: that file simply has no accuracy
    return Dataset(rows=[row_from_result(r) for r in results], accuracy=accuracy, environments=environments, source=str(db),
                   damaged=damaged)


def _latest_baselines(results: list[Any]) -> list[Any]:
    """One PyTorch baseline row per configuration and environment: a baseline is keyed by its
    torch version too, so a database can hold several (torch absent, then installed; 2.13, then
    2.14). A report shows the current one: the newest that measured something, else the newest."""
    import json

    chosen: dict[tuple[str, str], Any] = {}
    for result in results:  # oldest first
        if result.spec.runner == "ort":
            continue
        identity = result.spec.identity()
        identity["tags"] = [tag for tag in identity["tags"] if tag[0] != "torch"]
        key = (result.environment.key, json.dumps(identity, sort_keys=True, default=str))
        previous = chosen.get(key)
        if previous is None or result.ok or not previous.ok:
            chosen[key] = result
    keep = {id(result) for result in chosen.values()}
    return [result for result in results if result.spec.runner == "ort" or id(result) in keep]


def record_accuracy(db: str | Path, accuracies: Iterable[Accuracy]) -> None:
    """Store accuracies in the results database, keyed by the model file's sha256, so a report
    finds them next to the latency of the same file."""
    from ortkit.profiler import ResultStore

    with ResultStore(db) as store:
        for accuracy in accuracies:
            store.put_accuracy(accuracy.model_sha256, accuracy.to_dict())


def load_accuracy(db: str | Path) -> dict[str, Accuracy]:
    """The accuracies stored in ``db`` (empty when it has none)."""
    from ortkit.profiler import ResultStore

    with ResultStore(db, readonly=True) as store:
        return {sha: Accuracy.from_dict(data) for sha, data in store.accuracies().items()}
