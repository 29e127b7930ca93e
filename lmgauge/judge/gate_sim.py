"""A noise model of timing on a shared machine, estimated from real runs, and the gate's error
rates on runs simulated from it.

Independent noise hides the fault that matters: rounds of one run share the machine's state.
The model has three layers, all on the log scale (a value of 0.05 is about 5 %):
  pair_drift: the machine's speed around the time of one pair of runs (both runs share it);
  run_drift: one run's speed around its pair's;
  round_noise: one round's time around its run's.
A run's value is the median of its rounds. `lmgauge gate-check` estimates the three from
same-code runs; the simulation then judges many pairs with the same code the gate uses.

The estimates are robust (1.4826 x the median absolute deviation, the standard deviation of a
normal distribution with that MAD; round noise from the differences of successive rounds of a
run, divided by the square root of 2): a single outlying round (a 0.36 s prefill among 0.21 s ones
was seen) does not move a run's median, and a plain standard deviation would let it inflate
the model's noise for every round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.paired import WORSE, judge_paired
from lmgauge.judge.verdicts import judge


@dataclass(frozen=True)
class NoiseModel:
    """Standard deviations of log time: pair_drift, run_drift, round_noise (see module doc);
    rounds: timed rounds per run."""

    pair_drift: float
    run_drift: float
    round_noise: float
    rounds: int = 5


def estimate(base_runs: list[list[list[float]]], same_runs: list[list[list[float]]]) -> NoiseModel:
    """The noise model of one figure from same-code trials: per trial, per side, each run's
    per-round values (seconds), runs in pair order."""
    round_logs, pair_diffs, pair_levels = [], [], []  # round_logs: successive log differences
    for base_trial, same_trial in zip(base_runs, same_runs, strict=False):
        for base_rounds, same_rounds in zip(base_trial, same_trial, strict=False):
            for rounds in (base_rounds, same_rounds):
                round_logs.extend(np.diff(np.log(rounds)))
            base_level, same_level = np.log(np.median(base_rounds)), np.log(np.median(same_rounds))
            pair_diffs.append(same_level - base_level)
            pair_levels.append((same_level + base_level) / 2)
    rounds = min(len(runs) for trial in base_runs for runs in trial)
    round_noise = robust_sd(round_logs) / math.sqrt(2)
    median_noise = 1.2533 * round_noise / math.sqrt(rounds)
    diff_sd, level_sd = robust_sd(pair_diffs), robust_sd(pair_levels)
    run_drift = math.sqrt(max(diff_sd**2 / 2 - median_noise**2, 0.0))
    pair_drift = math.sqrt(max(level_sd**2 - diff_sd**2 / 4, 0.0))
    return NoiseModel(pair_drift, run_drift, round_noise, rounds)


def robust_sd(values) -> float:
    """1.4826 x the median absolute deviation from the median."""
    values = np.asarray(values, dtype=float)
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def simulated_rounds(model: NoiseModel, rng, level: float, factor: float) -> np.ndarray:
    """One run's per-round times around exp(level), slowed by `factor`."""
    run = level + rng.normal(0, model.run_drift)
    return factor * np.exp(run + rng.normal(0, model.round_noise, model.rounds))


def ab_fails(model: NoiseModel, rng, pairs: int, factor: float, rules: GateRules) -> bool:
    """Whether one simulated A/B comparison (pairs interleaved runs a side) fails the gate."""
    base, new = [], []
    for _ in range(pairs):
        level = rng.normal(0, model.pair_drift)
        base.append(float(np.median(simulated_rounds(model, rng, level, 1.0))))
        new.append(float(np.median(simulated_rounds(model, rng, level, factor))))
    judged = judge_paired(base, new, "s", "lower", "decode_step_seconds", rules)
    return judged.verdict == WORSE


def stored_fails(
    model: NoiseModel, rng, factor: float, rules: GateRules, tolerance: float | None = None
) -> bool:
    """Whether one simulated stored-baseline comparison (one run against a run made at another
    time) fails the gate; `tolerance` replaces the latency rule's relative tolerance."""
    runs = []
    for slowdown in (1.0, factor):
        rounds = simulated_rounds(model, rng, rng.normal(0, model.pair_drift), slowdown)
        runs.append({"value": float(np.median(rounds)), "samples": list(rounds), "rounds": [],
                     "unit": "s", "direction": "lower", "flags": []})  # fmt: skip
    rule = rules.rule_for("decode_step_seconds", "s")
    if tolerance is not None:
        rule = replace(rule, relative=tolerance)
    return judge(runs[0], runs[1], rule, rules.alpha, interval=False).fails_gate


def suggested_tolerance(fails_at, false_alarms: float = 0.01, trials: int = 500) -> float:
    """The smallest relative tolerance (in steps of 0.05, up to 1.0) at which
    `fails_at(rng, tolerance)` happens in at most `false_alarms` of `trials` same-code
    comparisons."""
    for step in range(1, 21):
        tolerance = round(0.05 * step, 2)
        rate = failure_rate(lambda rng, t=tolerance: fails_at(rng, t), trials)
        if rate <= false_alarms:
            return tolerance
    return float("inf")


def failure_rate(fails, trials: int, seed: int = 0) -> float:
    """Share of `trials` simulated comparisons for which `fails(rng)` is true."""
    rng = np.random.default_rng(seed)
    return sum(bool(fails(rng)) for _ in range(trials)) / trials
