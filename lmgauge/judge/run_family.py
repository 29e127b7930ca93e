"""Family control for the stored-baseline gate: a model's gated timings are judged together.

A quick-tier run gated against a stored baseline judges about 100 timings, each against its
own run-to-run spread, with Holm over all of them. On the 2-core VM each timing moves 10-14 %
from run to run, so no single timing of a model slowed 1.3x survives Holm over 100: such a
model was missed in all 16 trials. What moves together is tested together, as in A/B
(lmgauge.judge.family): per model in one setup (configuration, dtype, threads), the mean over
its timings of the signed log deviation from the base (positive = worse). The base runs give
that mean's own run-to-run spread: the standard deviation over the base runs of each run's
mean log value over the family's timings. The new side, one run or the median of several, is
judged against it with a one-sided Student's t on k - 1 degrees of freedom for k base runs;
Holm over the families. A family is worse when its adjusted p is at most its share of alpha
and its ratio is beyond the tolerance; a worse family fails the gate by itself.

It needs a baseline of at least MIN_SPREAD_RUNS runs (a folder); against one stored run there
is no family spread, and only each figure's own test applies.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from lmgauge.judge.family import FamilyVerdict, family_of
from lmgauge.judge.spread import MIN_SIGMA, MIN_SPREAD_RUNS, holm
from lmgauge.record.units import MACHINE_BOUND_UNITS


def run_family_verdicts(
    rows: list[dict], run_values: dict, new_runs: int, alpha: float, tolerance: float
) -> list[FamilyVerdict]:
    """One verdict per model family of the gated timings in `rows` (compare's rows) that have
    a finite positive value on the new side and in at least MIN_SPREAD_RUNS base runs
    (`run_values`: key -> value per base run, nan where a run has none), judged over the base
    runs they share (family_runs). Each timing counts with worse_log (its raw change, or less
    where an excuse shrank it): the base runs' family spread is a spread of raw values, machine
    drift included, so a ratio normalised both ways by the probe would not match it."""
    candidates: dict[str, list[tuple[np.ndarray, float]]] = {}
    for row in rows:
        key = (row["model"], row["bench"], row["metric"], row["params"])
        base = np.asarray(run_values.get(key, []), dtype=float)
        change = worse_log(row)
        if not (row["gated"] and row["unit"] in MACHINE_BOUND_UNITS and
                np.sum(base > 0) >= MIN_SPREAD_RUNS and math.isfinite(change)):  # fmt: skip
            continue
        sign = 1.0 if row["direction"] == "lower" else -1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = np.where(base > 0, sign * np.log(base), np.nan)
        candidates.setdefault(family_of(row), []).append((logs, change))
    chosen = {name: family_runs(found) for name, found in candidates.items()}
    members = {name: family for name, (family, _) in chosen.items() if family}
    names = sorted(members)
    tests = [family_test(members[name], chosen[name][1], new_runs) for name in names]
    adjusted = holm([p_value for _, p_value, _ in tests])
    limit = math.log1p(tolerance)
    verdicts = []
    for name, (shift, p_value, runs), adjusted_p in zip(names, tests, adjusted, strict=True):
        worse = adjusted_p <= alpha and shift > limit
        borderline = (shift > limit and not worse) or limit / 2 <= shift <= limit
        verdicts.append(FamilyVerdict(
            name, len(members[name]), runs, math.exp(shift), p_value, adjusted_p, worse,
            borderline, unit="base runs", test="one-sided t against the base runs' family spread",
            tolerance=tolerance, new_runs=new_runs,
        ))  # fmt: skip
    return verdicts


def family_runs(found: list[tuple[np.ndarray, float]]) -> tuple[list, np.ndarray]:
    """The family's timings and the base runs its spread is estimated over (a boolean mask):
    the runs that hold at least half of its timings (nan marks a value a run lacks: left out as
    busy, or unusable), when MIN_SPREAD_RUNS runs or more do; otherwise only the timings with a
    value in every run, over all runs (possibly none). A busy spell in one run drops that run's
    values, not the family's timings, also when it hit a different timing in each run."""
    present = np.array([np.isfinite(logs) for logs, _ in found])
    enough = present.sum(axis=0) * 2 >= len(found)
    if enough.sum() >= MIN_SPREAD_RUNS:
        return found, enough
    complete = [(logs, change) for logs, change in found if np.all(np.isfinite(logs))]
    return complete, np.ones(present.shape[1], dtype=bool)


def family_test(members: list[tuple[np.ndarray, float]], runs_used: np.ndarray,
                new_runs: int) -> tuple[float, float, int]:  # fmt: skip
    """(shift, one-sided p, base runs): shift is the mean over the family's timings of the new
    side's signed log ratio to the base; p that a new side of the same code lies that far
    beyond, given the run-to-run spread over `runs_used` of the family mean (each run's mean of
    its timings' deviations from their own mean over the runs, so that a run lacking a timing
    is not moved by that timing's level)."""
    base = np.stack([logs for logs, _ in members])[:, runs_used]
    deviations = base - np.nanmean(base, axis=1, keepdims=True)
    shift = float(np.mean([new for _, new in members]))
    runs = base.shape[1]
    sigma = float(np.std(np.nanmean(deviations, axis=0), ddof=1))
    scale = max(sigma, MIN_SIGMA) * math.sqrt(1 / max(new_runs, 1) + 1 / runs)
    return shift, float(stats.t.sf(shift / scale, runs - 1)), runs


def worse_log(row: dict) -> float:
    """A compared timing's change as natural log, positive the worse way: its raw ratio, or its
    normalised ratio where the excuses (lmgauge.judge.verdicts.excused) shrank a worsening;
    never worse than raw, since a probe that happens to be fast must not make a change. nan
    without two finite positive ratios."""
    raw, excused = row["raw_ratio"], row["ratio"]
    if not all(isinstance(r, float | int) and math.isfinite(r) and r > 0 for r in (raw, excused)):
        return math.nan
    sign = 1.0 if row["direction"] == "lower" else -1.0
    return min(sign * math.log(raw), sign * math.log(excused))
