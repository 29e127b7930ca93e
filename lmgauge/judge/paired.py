"""Paired verdicts for A/B runs: the same figure measured in interleaved runs of two sides.

The unit is the run: each run contributes one value per figure (the median of its rounds), and
run i of the base side is paired with run i of the new side, which ran next to it (A B B A ...).
A slow spell of the machine hits both runs of a pair, so the per-pair log ratios
log(new_i / base_i) carry the change without most of the drift.

Timing figures are judged with a test that one bad pair cannot defeat: Wilcoxon's signed-rank
test (exact, one-sided) on the per-pair log ratios, leaving out from 6 pairs on the pairs
furthest from no change (`trimmed`: a run caught in a slow spell is the heavy tail of same-code
pairs), and the Hodges-Lehmann estimate of the change (the median of the Walsh averages) with
its exact interval. A paired t-test on 4 pairs was defeated by one outlier (ratios 1.12, 1.13,
1.11, 1.60 gave p = 0.054). The rank test needs 5 pairs to reach p < 0.05 (its smallest
one-sided p is 1 / 2^n), so `lmgauge ab` runs more pairs while a verdict is `borderline`
(lmgauge.runs.ab). A figure is
worse when its estimate is beyond the paired tolerance in the worse direction and p <= alpha.
Exact figures must not change; other figures (memory, accuracy) use their gate.toml rule on the
medians of each side. A figure that is missing or not finite in any run cannot be judged: it
fails when gated.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.spread import Spread, is_finite
from lmgauge.judge.verdicts import (
    BETTER,
    CHANGED,
    NOISY,
    NOT_JUDGED,
    SAME,
    WORSE,
    Judgement,
    describe_change,
    ratio_of,
    zero_measured,
)
from lmgauge.record.units import MACHINE_BOUND_UNITS

MIN_PAIRS_FOR_SIGNIFICANCE = 5
"""Fewest pairs with which the signed-rank test can reach p < 0.05 (1 / 2^5 = 0.031)."""


def paired_log_ratios(base: list[float], new: list[float]) -> np.ndarray:
    return np.log(np.asarray(new, dtype=float) / np.asarray(base, dtype=float))


def signed_rank_null(pairs: int) -> np.ndarray:
    """The exact null distribution of Wilcoxon's W+ for `pairs` pairs without ties:
    probabilities of W+ = 0, 1, ..., n(n+1)/2 (each pair's sign a fair coin)."""
    counts = np.zeros(pairs * (pairs + 1) // 2 + 1)
    counts[0] = 1
    for rank in range(1, pairs + 1):
        shifted = np.zeros_like(counts)
        shifted[rank:] = counts[:-rank]
        counts = counts + shifted
    return counts / counts.sum()


def hodges_lehmann(logs: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high): the median of the Walsh averages (x_i + x_j) / 2, i <= j, and the
    exact distribution-free interval between the k-th smallest and k-th largest of them (the
    whole range when the pairs are too few for the confidence asked)."""
    count = len(logs)
    walsh = np.sort([(logs[i] + logs[j]) / 2 for i in range(count) for j in range(i, count)])
    null = np.cumsum(signed_rank_null(len(logs)))
    tail = (1 - confidence) / 2
    k = max(1, int(np.searchsorted(null, tail, side="right")))
    return float(np.median(walsh)), float(walsh[k - 1]), float(walsh[-k])


def trimmed(logs: np.ndarray) -> np.ndarray:
    """The per-pair log ratios without those furthest from no change: (n - 4) // 2 of them from
    6 pairs on (1 of 6 or 7, 2 of 8 or 9, 3 of 10), so that at least 5 are kept and the test
    can still reach p < 0.05. A pair with a run caught in a slow spell of the machine is the
    heavy tail of same-code pairs. Dropping by distance alone keeps the test exact: under no
    change the signs of the pairs kept are still fair coins."""
    drop = max(0, (len(logs) - 4) // 2)
    if not drop:
        return logs
    return logs[np.argsort(np.abs(logs), kind="stable")[: len(logs) - drop]]


def signed_rank_p(logs: np.ndarray, greater: bool) -> float:
    """Exact one-sided p of Wilcoxon's signed-rank test that the log ratios lean positive
    (greater) or negative, on the pairs `trimmed` keeps; zero differences are dropped
    (Wilcoxon's convention)."""
    logs = trimmed(np.asarray(logs, dtype=float))
    nonzero = logs[logs != 0]
    if len(nonzero) == 0:
        return 1.0
    alternative = "greater" if greater else "less"
    return float(stats.wilcoxon(nonzero, alternative=alternative, method="exact").pvalue)


def judge_paired(
    base: list[float], new: list[float], unit: str, direction: str, metric: str, rules: GateRules
) -> Judgement:
    """The verdict on one figure from its per-run values on each side (paired by index): for
    timings, ratio is exp(Hodges-Lehmann estimate of the per-pair log ratio), ci_low and
    ci_high its exact 95 % interval, p_value the one-sided signed-rank p of the change; the
    ratio of medians otherwise."""
    rule = rules.rule_for(metric, unit)
    if not base or len(base) != len(new) or not all(map(is_finite, [*base, *new])):
        return Judgement(NOT_JUDGED, math.nan, "", fails_gate=rule.gated,
                         note="missing or not a finite number in some runs")  # fmt: skip
    before, after = float(np.median(base)), float(np.median(new))
    median_ratio = ratio_of(before, after)
    change = describe_change(before, after, unit, direction, rule)
    if direction == "exact" or rule.exact:
        changed = any(b != n for b, n in zip(base, new, strict=False))
        verdict = CHANGED if changed else SAME
        return Judgement(verdict, median_ratio, change, fails_gate=changed and rule.gated)
    if unit in MACHINE_BOUND_UNITS and min(base + new) <= 0:
        if zero_valued(metric, base, new):
            change = describe_change(float(np.mean(base)), float(np.mean(new)), unit, direction,
                                     rule)  # fmt: skip
            return judge_with_zeros(base, new, direction, rules.paired_relative, rules.alpha,
                                    change, rule.gated)  # fmt: skip
        return Judgement(NOT_JUDGED, median_ratio, change, fails_gate=rule.gated,
                         note="a time or rate of zero or less in some run: a broken "
                         "measurement, not judged")  # fmt: skip
    if unit not in MACHINE_BOUND_UNITS:
        if not rule.beyond(before, after):
            return Judgement(SAME, median_ratio, change)
        worse = (after > before) == (direction == "lower")
        if rule.deterministic:
            return Judgement(WORSE if worse else BETTER, median_ratio, change,
                             fails_gate=worse and rule.gated)  # fmt: skip
        if rule.run_spread and min(base + new) > 0:
            return judge_by_run_spread(before, after, len(base), worse, change, rule, rules.alpha)
        why = ("a value of zero or less in some run, which a spread of log values cannot judge"
               if rule.run_spread else "no run-to-run spread and no rule saying it is "
               "deterministic")  # fmt: skip
        if worse and rule.gated:
            return Judgement(NOT_JUDGED, median_ratio, change, fails_gate=True,
                             note=f"not judged: beyond the tolerance the worse way, with {why}")
        return Judgement(NOISY, median_ratio, change, note=why)
    logs = paired_log_ratios(base, new)
    estimate, low, high = hodges_lehmann(logs)
    p_value = signed_rank_p(logs, greater=estimate > 0)
    ratio = math.exp(estimate)
    interval = {"ci_low": math.exp(low), "ci_high": math.exp(high), "p_value": p_value}
    if abs(estimate) <= math.log1p(rules.paired_relative):
        return Judgement(SAME, ratio, change, **interval)
    worse = (estimate > 0) == (direction == "lower")
    if len(logs) < MIN_PAIRS_FOR_SIGNIFICANCE:
        note = (f"not judged: the change is beyond the tolerance and {len(logs)} "
                f"pair{'s' * (len(logs) != 1)} cannot "
                f"reach p <= {rules.alpha}; run at least {MIN_PAIRS_FOR_SIGNIFICANCE}")
        return Judgement(NOT_JUDGED, ratio, change, **interval, fails_gate=rule.gated and worse,
                         note=note)  # fmt: skip
    if p_value > rules.alpha:
        note = f"p = {p_value:.3f} > {rules.alpha}"
        return Judgement(NOISY, ratio, change, **interval, note=note)
    verdict = WORSE if worse else BETTER
    return Judgement(verdict, ratio, change, **interval, fails_gate=worse and rule.gated)


def zero_valued(metric: str, base: list[float], new: list[float]) -> bool:
    """Whether every pair of runs is either positive on both sides or holds a zero that is a
    measured value of `metric` (goodput): the pairs `judge_with_zeros` can judge. A run
    without the figure (None) or with a non-finite value makes the pairs unjudgeable."""
    return len(base) == len(new) and all(
        is_finite(b) and is_finite(n) and (zero_measured(metric, b, n) or min(b, n) > 0)
        for b, n in zip(base, new, strict=True))  # fmt: skip


def judge_with_zeros(base, new, direction, tolerance, alpha, change, gated=True) -> Judgement:
    """A rate whose zero is a measured value (goodput: no request met the SLO) with a zero in
    some run, where log ratios do not exist. The size of the change is the ratio of the means
    over runs (a run that fell to zero counts; a median would hide two zero runs of five),
    against the paired tolerance; its significance is the one-sided signed-rank test of the
    per-pair differences. A change beyond the tolerance the worse way that is not significant
    is not judged and fails (lmgauge ab adds pairs while it waits): it never passes."""
    before, after = float(np.mean(base)), float(np.mean(new))
    ratio = after / before if before else math.nan
    note = "zero is a measured value of this figure; means over runs"
    beyond = after != before if before == 0 else abs(after / before - 1) > tolerance
    if not beyond:
        return Judgement(SAME, ratio, change, note=note)
    worse = (after > before) == (direction == "lower")
    differences = np.subtract(new, base)
    p_value = signed_rank_p(differences, greater=after > before)
    if p_value <= alpha:
        return Judgement(WORSE if worse else BETTER, ratio, change, p_value=p_value,
                         fails_gate=worse and gated, note=note)  # fmt: skip
    tested = f"p = {p_value:.3f} > {alpha} over {len(differences)} pairs"
    if not worse:
        return Judgement(NOISY, ratio, change, p_value=p_value, note=tested)
    return Judgement(NOT_JUDGED, ratio, change, p_value=p_value, fails_gate=gated,
                     note=f"not judged: worse by more than {100 * tolerance:g} % in the mean "
                     f"over runs, {tested}")  # fmt: skip


def judge_by_run_spread(before, after, runs, worse, change, rule, alpha) -> Judgement:
    """A figure that moves from run to run but is measured once a side (a memory peak of an
    untimed test): the medians' log ratio against the rule's stated run-to-run spread."""
    spread = Spread(rule.run_spread, 0, "gate rules default")
    p_value = spread.p_worse(abs(math.log(after / before)), runs)
    note = f"run-to-run spread {100 * rule.run_spread:g} % (gate rules default)"
    if p_value > alpha:
        return Judgement(NOISY, after / before, change, p_value=p_value,
                         note=f"{note}; p = {p_value:.3f} > {alpha}")  # fmt: skip
    verdict = WORSE if worse else BETTER
    return Judgement(verdict, after / before, change, p_value=p_value, note=note,
                     fails_gate=worse and rule.gated)  # fmt: skip


def borderline(judgement: Judgement, gated: bool, tolerance: float) -> bool:
    """Whether more pairs could change a gated timing verdict: the estimate is beyond the
    `tolerance` (relative) but the test is not (or cannot yet be) significant, or it is within
    the tolerance but by less than half of it (one pair far off can pull a real change that
    close, so "same" is not yet trusted)."""
    if not gated or math.isnan(judgement.p_value):
        return False
    if judgement.verdict in (NOISY, NOT_JUDGED):
        return True
    grey = math.log1p(tolerance) / 2
    return judgement.verdict == SAME and abs(math.log(judgement.ratio)) >= grey
