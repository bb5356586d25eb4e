"""`ortkit tune`: the fastest safe configuration of a model per shape group, found with statistics.

The search space (`candidates`): intra-/inter-op threads, execution mode, graph optimisation,
thread spinning, memory arena and pattern, each EP's own options, and the precision variants the
accuracy constraint allows (`precision_variants`). The search (`race_group`): successive halving
over interleaved, paired rounds, then the winner confirmed against the default in fresh
processes. The result: a `ortkit.runtime.TunedProfile` file that `Runtime(model, tuned=PATH)`
and ``--tuned`` load. See docs/tuning.md.
"""

from __future__ import annotations

from ortkit.tune._precision import DEFAULT_MAX_METRIC_DROP, PrecisionCheck, precision_variants
from ortkit.tune._race import MIN_DROP_ROUNDS, RaceOutcome, RaceSettings, candidate_spec, race_group
from ortkit.tune._space import EP_KNOBS, Candidate, ShapeGroup, candidates, check_ep_options, shape_groups, thread_options
from ortkit.tune._tune import ALL_PRECISIONS, DEFAULT_BUDGET_S, TuneResult, tune_model

__all__ = [
    "ALL_PRECISIONS",
    "Candidate",
    "candidate_spec",
    "candidates",
    "check_ep_options",
    "DEFAULT_BUDGET_S",
    "DEFAULT_MAX_METRIC_DROP",
    "EP_KNOBS",
    "MIN_DROP_ROUNDS",
    "PrecisionCheck",
    "precision_variants",
    "race_group",
    "RaceOutcome",
    "RaceSettings",
    "shape_groups",
    "ShapeGroup",
    "thread_options",
    "TuneResult",
    "tune_model",
]
