"""Racing the candidates of one shape group, and confirming the winner against the default.

Every stage measures the surviving candidates side by side in the profiler's interleaved rounds
(`ortkit.profiler.measure_interleaved`: one worker per candidate, each round visiting all of
them in a fresh random order), so each candidate is compared with the leader by the median of
their per-round latency ratios (`ortkit.profiler.ratio_between`), where machine drift that hit
both in a round cancels. A candidate whose ratio to the leader is above 1 with 95% confidence is
dropped at once; if more than half of a stage's entrants survive, only the better half goes on
(successive halving: the budget goes to the close contenders). A candidate's rounds from every
stage it ran are pooled, so later stages sharpen earlier estimates.

The race's winner is then measured again against the default in fresh processes (two workers
each, interleaved): the gain is the default's latency over the winner's, paired, with its CI. A
gain whose CI includes 1 is no gain: the group keeps the default settings.

Every stage's rows go to the results store, tagged ``tune=race1``, ``race2``... and
``tune=confirm``: a killed run, run again, takes what was measured from the store.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from ortkit.base import OrtkitError
from ortkit.profiler import IN_PROGRESS, Budget, Environment, Groups, ProfileSpec, Ratio, Result, measure_interleaved, ratio_between
from ortkit.runtime import TunedGain

from ortkit.tune._space import Candidate, ShapeGroup

__all__ = ["RaceOutcome", "RaceSettings", "race_group", "candidate_spec", "MIN_DROP_ROUNDS"]

#: shared rounds before a candidate may be dropped as slower "with confidence": the bootstrap
#: interval of a median over fewer rounds is too narrow (3 rounds all above 1 happen by chance
#: one time in 8; 6 rounds, one in 64, the sign test's 95% two-sided level)
MIN_DROP_ROUNDS = 6


@dataclass(frozen=True)
class RaceSettings:
    """How long the race measures: rounds per stage (the stages run while more than one candidate
    is left), the slice each candidate gets per round, the confirmation's rounds and processes,
    and a wall-clock deadline (``time.monotonic()`` value; None: none) after which no new stage
    starts (the leader so far goes to the confirmation)."""

    stage_rounds: tuple[int, ...] = (6, 6, 8)
    slice_s: float = 0.04
    confirm_rounds: int = 8
    confirm_processes: int = 2
    deadline: float | None = None
    timeout: float = 300.0

    def budget(self, rounds: int, processes: int = 1) -> Budget:
        return Budget(warmup_runs=2, warmup_time_s=0.02, min_runs=3, max_time_s=self.slice_s * rounds, target_rel_ci=0.02,
                      processes=processes, rounds=rounds, max_rounds=rounds)


@dataclass(frozen=True)
class RaceOutcome:
    """What the race of one group found.

    ``winner``: the race's fastest candidate. ``choice``: what the profile keeps (the winner when
    its gain over the default is confident, else the default). ``gain``: default / winner latency
    from the confirmation (None when the default itself won). ``eliminated``: (candidate, why).
    """

    group: ShapeGroup
    candidates: tuple[Candidate, ...]
    winner: Candidate
    choice: Candidate
    gain: TunedGain | None
    confident: bool
    note: str
    eliminated: tuple[tuple[Candidate, str], ...]
    stages: int
    measured: int
    reused: int


def candidate_spec(base: ProfileSpec, candidate: Candidate, shape: tuple[int, int | None], tag: str) -> ProfileSpec:
    """The profiler configuration that measures ``candidate`` at ``shape``, tagged ``tune=tag``."""
    settings = candidate.settings
    return replace(base, model=candidate.model, model_sha256=candidate.model_sha256, ep=candidate.ep, ep_options=candidate.ep_options,
                   threads=settings.threads, optimization=settings.optimization, session=settings.extra(),
                   precision=candidate.precision, batch=shape[0], time=shape[1], tags=base.tags + (("tune", tag),))


def _pooled(results: Sequence[Result]) -> Groups:
    """One candidate's rounds from every stage it ran (round ids are unique per sweep)."""
    samples: list[float] = []
    p50: list[float] = []
    ids: list[str] = []
    procs: list[float] = []
    for result in results:
        groups = Groups.of(result)
        samples += groups.samples_ms
        p50 += groups.round_p50_ms
        ids += groups.round_ids
        procs += groups.process_p50_ms
    return Groups(tuple(samples), tuple(p50), tuple(ids), tuple(procs))


def _middle(groups: Groups) -> float:
    values = sorted(groups.medians or groups.samples_ms)
    return values[len(values) // 2] if values else math.inf


class _Measurer:
    """Measures a list of specs in one interleaved block, taking finished rows from the store."""

    def __init__(self, store: Any, env: Environment, python: str | None, settings: RaceSettings) -> None:
        self.store, self.env, self.python, self.settings = store, env, python, settings
        self.measured = self.reused = 0

    def __call__(self, specs: Sequence[ProfileSpec], budget: Budget) -> list[Result]:
        found: dict[int, Result] = {}
        pending = []
        for index, spec in enumerate(specs):
            previous = self.store.get(spec.key(self.env.key))
            if previous is not None and previous.status != "failed" and previous.metrics.stop_reason != IN_PROGRESS:
                found[index] = previous
            else:
                pending.append((index, (spec, self.env, previous)))
        if pending:
            results = measure_interleaved([item for _, item in pending], budget, self.store, python=lambda spec: self.python,
                                          timeout=self.settings.timeout)
            found.update({index: result for (index, _), result in zip(pending, results)})
        self.measured += len(pending)
        self.reused += len(specs) - len(pending)
        return [found[i] for i in range(len(specs))]


def race_group(group: ShapeGroup, entrants: Sequence[Candidate], base: ProfileSpec, store: Any, env: Environment, *,
               python: str | None = None, settings: RaceSettings = RaceSettings(),
               log: Callable[[str], None] = lambda line: None) -> RaceOutcome:
    """Race ``entrants`` (the default first) at ``group.probe`` and confirm the winner."""
    measure = _Measurer(store, env, python, settings)
    history: dict[int, list[Result]] = {i: [] for i in range(len(entrants))}
    eliminated: dict[int, str] = {}
    alive = list(range(len(entrants)))
    leader, stages = 0, 0
    for stage, rounds in enumerate(settings.stage_rounds, start=1):
        if len(alive) <= 1 or (stages and settings.deadline is not None and time.monotonic() > settings.deadline):
            break
        stages = stage
        specs = [candidate_spec(base, entrants[i], group.probe, f"race{stage}") for i in alive]
        for i, result in zip(alive, measure(specs, settings.budget(rounds))):
            history[i].append(result)
            if not result.ok:
                eliminated[i] = f"{result.status}: {result.message or 'no samples'}"
        ok = [i for i in alive if i not in eliminated]
        if not ok:
            # Nothing measured (the EP skipped the model, every worker failed): no profile may
            # claim a choice for this group.
            raise OrtkitError(f"cannot tune {group.describe()}: no candidate could be measured; the default: {eliminated[0]}")
        pooled = {i: _pooled(history[i]) for i in ok}
        leader = min(ok, key=lambda i: _middle(pooled[i]))
        ratios: dict[int, Ratio] = {i: ratio_between(pooled[i], pooled[leader]) for i in ok if i != leader}
        for i, ratio in ratios.items():
            if ratio.low > 1.0 and ratio.rounds >= MIN_DROP_ROUNDS:
                eliminated[i] = f"slower than the leader at stage {stage}: {ratio.describe()}"
        survivors = [leader] + sorted((i for i in ratios if i not in eliminated), key=lambda i: ratios[i].estimate)
        keep = max(2, math.ceil(len(alive) / 2))
        for i in survivors[keep:]:
            eliminated[i] = f"in the slower half at stage {stage}: {ratios[i].describe()}"
        alive = survivors[:keep]
        log(f"  stage {stage} ({rounds} rounds): {len(specs)} raced, {len(alive)} left; leader {entrants[leader].describe()}")
    winner = entrants[leader]
    return _confirm(group, entrants, winner, base, measure, settings, stages,
                    tuple((entrants[i], why) for i, why in sorted(eliminated.items())), log)


def _confirm(group: ShapeGroup, entrants: Sequence[Candidate], winner: Candidate, base: ProfileSpec, measure: _Measurer,
             settings: RaceSettings, stages: int, eliminated: tuple[tuple[Candidate, str], ...],
             log: Callable[[str], None]) -> RaceOutcome:
    default = entrants[0]

    def outcome(choice: Candidate, gain: TunedGain | None, confident: bool, note: str) -> RaceOutcome:
        return RaceOutcome(group, tuple(entrants), winner, choice, gain, confident, note, eliminated, stages, measure.measured, measure.reused)

    if winner == default:
        return outcome(default, None, False, "the default won the race: kept")
    specs = [candidate_spec(base, c, group.probe, "confirm") for c in (default, winner)]
    first, second = measure(specs, settings.budget(settings.confirm_rounds, settings.confirm_processes))
    if not (first.ok and second.ok):
        bad = first if not first.ok else second
        return outcome(default, None, False, f"the confirmation failed ({bad.status}: {bad.message}): default kept")
    ratio = ratio_between(first, second)
    gain = TunedGain(ratio.estimate, min(ratio.low, ratio.estimate), max(ratio.high, ratio.estimate), 0.95, ratio.rounds)
    how = "paired" if ratio.paired else "unpaired"
    if ratio.low > 1.0:
        log(f"  confirmed: {gain.describe()} faster than the default ({how}, {ratio.rounds} rounds)")
        return outcome(winner, gain, True, f"confirmed gain {gain.describe()} ({how}, {ratio.rounds} rounds, fresh processes)")
    log(f"  no confident gain: {gain.describe()} ({how}): default kept")
    return outcome(default, gain, False, f"no confident gain: {gain.describe()} includes 1 or is below it; default kept")
