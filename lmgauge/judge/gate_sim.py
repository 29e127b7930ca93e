"""A noise model of timing on a shared machine, estimated from real runs, and the gate's error
rates on runs simulated from it.

Independent noise hides the fault that matters: rounds of one run share the machine's state.
The model has three layers, all on the log scale (a value of 0.05 is about 5 %):
  pair_drift: the machine's speed around the time of one pair of runs (both runs share it);
  run_drift: one run's speed around its pair's;
  round_noise: one round's time around its run's.
A run's value is the median of its rounds. Real runs also have a heavy tail that Gaussian
layers cannot show: now and then one run of a pair is far off (a busy neighbour, a page-cache
flush); `tail_rate` is the share of runs shifted by `tail_shift` (log, towards slower), both
estimated from how often a same-code pair is 1.3x or more apart (`tail_from_pairs`). One such
pair defeated the paired t-test; the simulation now shows whether a verdict survives it.
`lmgauge gate-check` estimates the layers from same-code runs; the simulation then judges many
comparisons with the same code the gate uses (for A/B: the family test and the same sequential
rule, pairs added while a family is borderline).

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

from lmgauge.judge.family import family_verdicts
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.paired import NOT_JUDGED, judge_paired
from lmgauge.judge.spread import Spread
from lmgauge.judge.verdicts import judge

TAIL_FACTOR = 1.3
"""A same-code pair this far apart (or more) counts as an outlying pair."""


@dataclass(frozen=True)
class NoiseModel:
    """Standard deviations of log time: pair_drift, run_drift, round_noise (see module doc);
    rounds: timed rounds per run; tail_rate: share of runs that are outliers, each slowed by
    exp(tail_shift)."""

    pair_drift: float
    run_drift: float
    round_noise: float
    rounds: int = 5
    tail_rate: float = 0.0
    tail_shift: float = 0.0


def tail_from_pairs(log_ratios) -> tuple[float, float]:
    """(tail_rate, tail_shift) from same-code pairs' log ratios: a pair is outlying when its
    runs are TAIL_FACTOR or more apart; each outlying pair holds one outlying run, so the rate
    per run is half the share of such pairs, and the shift is their median distance."""
    logs = np.abs(np.asarray(log_ratios, dtype=float))
    outlying = logs[logs >= math.log(TAIL_FACTOR)]
    if len(logs) == 0 or len(outlying) == 0:
        return 0.0, 0.0
    return len(outlying) / len(logs) / 2, float(np.median(outlying))


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
    """One run's per-round times around exp(level), slowed by `factor` (and, with probability
    tail_rate, by the outlying shift)."""
    run = level + rng.normal(0, model.run_drift)
    if model.tail_rate and rng.random() < model.tail_rate:
        run += model.tail_shift
    return factor * np.exp(run + rng.normal(0, model.round_noise, model.rounds))


def ab_fails(
    model: NoiseModel,
    rng,
    pairs: int,
    factor: float,
    rules: GateRules,
    max_pairs: int = 12,
    families: int = 5,
) -> bool:
    """Whether one simulated A/B comparison of one figure fails the gate: `pairs` interleaved
    runs a side, then one more pair at a time while the figure's family is borderline or the
    figure is not judged yet (too few pairs for its rank test), up to `max_pairs` (the rule
    `lmgauge ab` follows; a figure still not judged, or a family still beyond the tolerance
    without significance, fails). The figure is a model family of its own, judged among
    `families` families (the quick tier's five models): its p must pass alpha / families,
    Holm's first step. ab_run_fails simulates the whole run."""
    shared = replace(rules, alpha=rules.alpha / families)
    return simulated_ab(model, rng, pairs, [factor], shared, max_pairs)


def ab_run_fails(
    model: NoiseModel,
    rng,
    pairs: int,
    factor: float,
    rules: GateRules,
    max_pairs: int = 12,
    families: int = 5,
) -> bool:
    """Whether one simulated A/B run of `families` model families (one figure each, with
    independent noise) fails: the first slowed by `factor`, the others the same code; pairs
    added while any family is borderline or any figure waits, Holm over the families. Each
    family that is still unresolved at the last pair can fail the run, so more families fail
    a same-code run more often; this is the run's rate, which ab_fails only approximates."""
    return simulated_ab(model, rng, pairs, [factor] + [1.0] * (families - 1), rules, max_pairs)


def simulated_ab(model: NoiseModel, rng, pairs: int, factors: list[float], rules: GateRules,
                 max_pairs: int) -> bool:  # fmt: skip
    """One simulated A/B run of one single-figure family per factor (see ab_run_fails)."""
    base: list[list[float]] = [[] for _ in factors]
    new: list[list[float]] = [[] for _ in factors]
    while True:
        for index, factor in enumerate(factors):
            level = rng.normal(0, model.pair_drift)
            base[index].append(float(np.median(simulated_rounds(model, rng, level, 1.0))))
            new[index].append(float(np.median(simulated_rounds(model, rng, level, factor))))
        if len(base[0]) < pairs:
            continue
        rows = [{"model": f"m{index}", "bench": "b", "params": "", "unit": "s",
                 "direction": "lower", "gated": True, "base_runs": base[index],
                 "new_runs": new[index]} for index in range(len(factors))]  # fmt: skip
        verdicts = family_verdicts(rows, rules.alpha, rules.paired_relative)
        waiting = False
        for before, after in zip(base, new, strict=True):
            own = judge_paired(before, after, "s", "lower", "decode_step_seconds", rules)
            waiting = waiting or (own.verdict == NOT_JUDGED and own.fails_gate)
        borderline = any(verdict.borderline for verdict in verdicts)
        if len(base[0]) >= max_pairs or not (borderline or waiting):
            return waiting or any(verdict.worse or verdict.unresolved for verdict in verdicts)


def run_spread(model: NoiseModel) -> float:
    """Standard deviation of a run's log value around the code's true speed under `model`
    (pair drift, run drift and the median of the round noise; the tail is left out, as a
    spread estimated robustly would leave it out)."""
    median_noise = 1.2533 * model.round_noise / math.sqrt(model.rounds)
    return math.sqrt(model.pair_drift**2 + model.run_drift**2 + median_noise**2)


def stored_fails(
    model: NoiseModel, rng, factor: float, rules: GateRules, tolerance: float | None = None
) -> bool:
    """Whether one simulated stored-baseline comparison (one run against a run made at another
    time, judged with the run-to-run spread the model implies) fails the gate; `tolerance`
    replaces the latency rule's relative tolerance. One figure: no family to control."""
    runs = []
    for slowdown in (1.0, factor):
        rounds = simulated_rounds(model, rng, rng.normal(0, model.pair_drift), slowdown)
        runs.append({"value": float(np.median(rounds)), "samples": list(rounds), "rounds": [],
                     "unit": "s", "direction": "lower", "flags": []})  # fmt: skip
    rule = rules.rule_for("decode_step_seconds", "s")
    if tolerance is not None:
        rule = replace(rule, relative=tolerance)
    spread = Spread(run_spread(model), 0, "the noise model")
    return judge(runs[0], runs[1], rule, rules.alpha, interval=False, spread=spread).fails_gate


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
