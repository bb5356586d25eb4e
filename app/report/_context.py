"""Report sections on where and how numbers were measured: ops, node placement, environments, problems."""

from __future__ import annotations

from ortkit.report._document import Figure, Section, Table
from ortkit.report._reportdata import Row
from ortkit.report._view import (
    View,
    describe_row,
    fmt_ms,
    group_rows,
    one_line,
    slug,
)


def ops_section(view: View) -> Section:
    section = Section(
        "Where the time goes: operator types",
        "Share of operator time per op type, from onnxruntime's profiler, at the largest profiled shape.",
    )
    rows = [r for r in view.rows(lambda r: r.spec.runner == "ort") if r.op_shares]
    for where, group in sorted(group_rows(rows, view.where).items()):
        bars = []
        for label, model_rows in sorted(group_rows(group, Row.label).items()):
            row = max(model_rows, key=lambda r: ((r.spec.time or 0), r.spec.batch))
            total = sum(share for _, share in row.op_shares) or 1.0
            shares = sorted(((op, share / total) for op, share in row.op_shares), key=lambda item: -item[1])
            bars.append((f"{label} (b={row.spec.batch}, t={row.spec.time})", shares))
            top = ", ".join(f"{op} {100 * share:.0f}%" for op, share in shares[:3])
            section.findings.append(f"On {where}, {label} at batch {row.spec.batch}, T = {row.spec.time} spends its operator time on {top}.")
        png = view.plot("shares_figure", bars, f"Operator time shares on {where}")
        if png is not None:
            section.figures.append(Figure(slug("ops", where), f"Operator-type time shares on {where}.", png))
    if not rows:
        section.notes.append("No configuration was measured with the op profiler (`op_profile`): figure omitted.")
    return section


ENV_FIELDS = ("cpu_model", "cpu_cores_logical", "memory_bytes", "os", "python", "onnxruntime_distribution", "onnxruntime",
              "execution_providers", "torch", "gpus", "ortkit", "git_revision")


def placement_section(view: View) -> Section:
    section = Section(
        "Where the nodes ran",
        "Graph nodes per execution provider, as the onnxruntime session assigned them. A number is "
        "labelled with an EP only when that EP ran the model; nodes it left to the CPU are shown here.",
    )
    rows = [r for r in view.rows(lambda r: r.spec.runner == "ort") if r.node_assignment]
    table = []
    for (where, label), group in sorted(group_rows(rows, lambda r: (view.where(r), r.label())).items()):
        counts = dict(group[0].node_assignment)
        total = sum(counts.values()) or 1
        main = next((ep for ep in counts if ep != "CPUExecutionProvider"), "CPUExecutionProvider")
        fallback = counts.get("CPUExecutionProvider", 0) if main != "CPUExecutionProvider" else 0
        table.append((where, label, ", ".join(f"{ep} {n}" for ep, n in sorted(counts.items())), f"{fallback / total:.0%}"))
        if fallback:
            section.findings.append(
                f"On {where}, {label} ran {counts.get(main, 0)} of {total} nodes on {main}; {fallback} fell back to the CPU EP."
            )
    if table:
        section.tables.append(Table(("target", "model", "nodes per EP", "CPU fallback"), tuple(table)))
        if not section.findings:
            section.findings.append("Every measured model ran all of its nodes on the EP it is labelled with.")
    else:
        section.notes.append("No configuration recorded its node assignment.")
    return section


def environment_section(view: View) -> Section:
    section = Section("Environment", "The machine and software stack every number above was measured on.")
    used = sorted({row.environment_key for row in view.dataset.rows})
    for key in used:
        env = view.dataset.environments.get(key)
        if env is None:
            section.notes.append(f"Environment {key}: not recorded.")
            continue
        rows = []
        for name in ENV_FIELDS:
            value = env.get(name)
            if name == "memory_bytes" and value:
                value = f"{value / 2**30:.1f} GiB"
            elif isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value) or "-"
            rows.append((name, "-" if value in (None, "") else str(value)))
        section.tables.append(Table(("environment " + key, ""), tuple(rows)))
    if len(used) > 1:
        section.findings.append(f"The database holds results from {len(used)} environments; each figure labels its environment and none are merged.")
    return section


def problems_section(view: View) -> Section:
    section = Section(
        "Unstable, skipped and failed configurations",
        "Every configuration whose numbers are not to be trusted as a single figure, or that produced none.",
    )
    # The tuning search's candidates (tagged ``tune``) are counted apart: they are a search's
    # trials, not configurations the report compares.
    searched = [r for r in view.dataset.rows if "tune" in dict(r.spec.tags)]
    compared = [r for r in view.dataset.rows if "tune" not in dict(r.spec.tags)]
    unstable = [r for r in compared if r.unstable]
    skipped = [r for r in compared if r.status in ("skipped", "unavailable")]
    failed = [r for r in compared if r.status not in ("ok", "skipped", "unavailable") or (r.status == "ok" and not r.samples_ms)]
    section.findings.append(
        f"{len(compared)} configurations: {len(compared) - len(skipped) - len(failed)} measured "
        f"({len(unstable)} unstable), {len(skipped)} skipped, {len(failed)} failed."
    )
    if searched:
        section.findings.append(f"Besides them, the tuning search measured {len(searched)} candidate configurations "
                                f"({sum(1 for r in searched if r.unstable)} unstable; 'What tuning bought').")
    section.findings.append("Unstable: fewer than 5 samples, IQR/median of the samples over 10%, or IQR/median of the "
                            "per-round (or per-process) medians over 5% (docs/profiler.md, 'Stability').")
    noisy = _noisy(view)
    if noisy:
        section.findings.append(noisy)
    if unstable:
        section.tables.append(Table(("unstable configuration", "median", "IQR/median", "round spread", "rounds", "samples"), tuple(
            (describe_row(view, r), fmt_ms(r.median_ms), f"{r.stats.iqr_ratio:.1%}", _spread(r), str(len(r.round_p50_ms) or len(r.process_p50_ms)),
             str(r.stats.n)) for r in unstable)))
    if skipped:
        section.tables.append(Table(("skipped configuration", "reason"), tuple((describe_row(view, r), one_line(r.message)) for r in skipped)))
    if failed:
        section.tables.append(Table(("failed configuration", "error"), tuple((describe_row(view, r), one_line(r.message)) for r in failed)))
    if view.dataset.damaged:
        section.findings.append(f"{len(view.dataset.damaged)} stored row(s) could not be read back (the database was edited or "
                                "damaged) and are left out; a sweep over the same grid measures them again.")
        section.tables.append(Table(("unreadable row (key)", "why"), tuple((key, one_line(why)) for key, why in view.dataset.damaged)))
    return section


def _spread(row: Row) -> str:
    from ortkit.profiler import Groups, round_spread

    spread = round_spread(Groups.of(row))
    return "-" if spread is None else f"{spread:.1%}"


def _noisy(view: View) -> str | None:
    """A warning when the machine was not quiet while measuring (`ortkit.profiler.is_quiet`: CPU
    steal, or runnable processes of other programs; the load average only for older records),
    from the noise each result recorded."""
    from ortkit.profiler import is_quiet

    rows = [r for r in view.dataset.rows if r.ok and (r.load_1m is not None or r.busy_processes is not None)]
    if not rows:
        return None
    noisy = []
    for row in rows:
        cpus = int(view.dataset.environments.get(row.environment_key, {}).get("cpu_cores_logical") or 1)
        if not is_quiet(row.load_1m, row.cpu_steal, row.busy_processes, cpus):
            noisy.append(row)
    if not noisy:
        return None
    loads = [r.load_1m for r in noisy if r.load_1m is not None]
    steal = max((r.cpu_steal or 0.0) for r in noisy)
    busy = max((r.busy_processes or 0) for r in noisy)
    load = f"load average {min(loads):.1f} to {max(loads):.1f}, " if loads else ""
    return (f"Warning: the machine was not quiet for {len(noisy)} of {len(rows)} measurements (up to {busy} runnable "
            f"process(es) of other programs, {load}CPU steal up to {steal:.1%}): other programs shared the cores, which "
            "widens every interval and can shift medians; `ortkit doctor` measures this machine's noise floor.")
