"""Paired verdicts for A/B runs: the same figure measured in interleaved runs of two sides.

The unit is the run: each run contributes one value per figure (the median of its rounds), and
run i of the base side is paired with run i of the new side, which ran next to it (A B B A ...).
A slow spell of the machine hits both runs of a pair, so the per-pair log ratios
log(new_i / base_i) carry the change without most of the drift.

Timing figures are judged with a one-sided paired t-test on those log ratios (Wilcoxon's
signed-rank test cannot reach p < 0.05 with fewer than 5 pairs: its smallest one-sided p is
1/2^n) and a t interval of their mean, reported as a ratio. A figure is worse when its mean
log ratio is beyond the paired tolerance in the worse direction and p <= alpha. Exact figures
must not change; other deterministic figures (memory, accuracy) use their gate.toml rule on
the medians of each side.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from lmgauge.judge.drift import MACHINE_BOUND_UNITS
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.verdicts import BETTER, CHANGED, NOISY, SAME, WORSE, Judgement, describe_change


def paired_log_ratios(base: list[float], new: list[float]) -> np.ndarray:
    return np.log(np.asarray(new, dtype=float) / np.asarray(base, dtype=float))


def judge_paired(
    base: list[float], new: list[float], unit: str, direction: str, metric: str, rules: GateRules
) -> Judgement:
    """The verdict on one figure from its per-run values on each side (paired by index): ratio
    is exp(mean per-pair log ratio) for timings (the ratio of medians otherwise), ci_low and
    ci_high its 95 % t interval, p_value the one-sided paired t-test p of the change."""
    rule = rules.rule_for(metric, unit)
    before, after = float(np.median(base)), float(np.median(new))
    median_ratio = after / before if before else math.nan
    change = describe_change(before, after, unit, direction, rule)
    if direction == "exact" or rule.exact:
        changed = any(b != n for b, n in zip(base, new, strict=False))
        verdict = CHANGED if changed else SAME
        return Judgement(verdict, median_ratio, change, fails_gate=changed and rule.gated)
    if unit not in MACHINE_BOUND_UNITS or min(base + new) <= 0:
        if not rule.beyond(before, after):
            return Judgement(SAME, median_ratio, change)
        worse = (after > before) == (direction == "lower")
        verdict = (WORSE if worse else BETTER) if rule.deterministic else NOISY
        return Judgement(verdict, median_ratio, change, fails_gate=verdict == WORSE and rule.gated)
    logs = paired_log_ratios(base, new)
    mean, count = float(logs.mean()), len(logs)
    spread = float(logs.std(ddof=1)) if count > 1 else math.inf
    if spread == 0:
        spread = 1e-12
    half = stats.t.ppf(0.975, count - 1) * spread / math.sqrt(count)
    ratio, low, high = math.exp(mean), math.exp(mean - half), math.exp(mean + half)
    statistic = mean / (spread / math.sqrt(count))
    p_value = float(stats.t.sf(abs(statistic), count - 1))
    interval = {"ci_low": low, "ci_high": high, "p_value": p_value}
    if abs(mean) <= math.log1p(rules.paired_relative):
        return Judgement(SAME, ratio, change, **interval)
    if p_value > rules.alpha:
        return Judgement(
            NOISY, ratio, change, **interval, note=f"p = {p_value:.3f} > {rules.alpha}"
        )
    worse = (mean > 0) == (direction == "lower")
    verdict = WORSE if worse else BETTER
    return Judgement(verdict, ratio, change, **interval, fails_gate=worse and rule.gated)
