"""The verdict on one figure measured in two runs: better, worse, same, too noisy, changed.

A change counts only when it is beyond the figure's tolerance (lmgauge.gate_rules). With raw
samples on both sides it must also be significant (one-sided Mann-Whitney U, p <= alpha) to be
called better or worse; otherwise it is "too noisy". A figure without samples is called better
or worse only when its rule says it is deterministic. A result flagged busy is never called
better or worse. Exact figures (counts) are "same" or "changed".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lmgauge.gate_rules import Rule
from lmgauge.hardware import MACHINE_BOUND_UNITS, Drift
from lmgauge.significance import one_sided_p, ratio_interval, testable

BETTER, WORSE, SAME, NOISY, CHANGED = "better", "worse", "same", "too noisy", "changed"
NOT_COMPARABLE = "not comparable"
NO_DRIFT = Drift()


@dataclass(frozen=True)
class Judgement:
    """ratio: new / base (nan when base is 0); p_value: one-sided Mann-Whitney U p of the
    change's direction (nan without samples); ci_low / ci_high: 95 % bootstrap interval of the
    ratio of medians (nan without samples); fails_gate: gated rule and a change for the worse."""

    verdict: str
    ratio: float
    change: str
    p_value: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    fails_gate: bool = False
    note: str = ""


def judge(
    base: dict,
    new: dict,
    rule: Rule,
    alpha: float,
    machines_differ: bool = False,
    drift: Drift = NO_DRIFT,
) -> Judgement:
    """Compare one result of the base report with the same result of the new report.

    machines_differ: raw times and throughputs are not comparable at all. drift: how the
    machine's calibrated speed moved with nothing in the setup to explain it; a raw time or
    throughput that moved the way the machine did is "too noisy", not better or worse."""
    before, after = float(base["value"]), float(new["value"])
    ratio = after / before if before else math.nan
    change = describe_change(before, after, new["unit"], new["direction"], rule)
    if machines_differ and new["unit"] in MACHINE_BOUND_UNITS:
        return Judgement(NOT_COMPARABLE, ratio, change, note="machines differ")
    if new["direction"] == "exact" or rule.exact:
        changed = rule.beyond(before, after) if rule.exact else before != after
        verdict = CHANGED if changed else SAME
        return Judgement(verdict, ratio, change, fails_gate=changed and rule.gated)
    worse_if_greater = new["direction"] == "lower"
    getting_worse = (after > before) == worse_if_greater
    p_value = ci_low = ci_high = math.nan
    if testable(base["samples"], new["samples"]):
        p_value = one_sided_p(base["samples"], new["samples"], greater=after > before)
        ci_low, ci_high = ratio_interval(base["samples"], new["samples"])
    stats = {"p_value": p_value, "ci_low": ci_low, "ci_high": ci_high}
    if not rule.beyond(before, after):
        return Judgement(SAME, ratio, change, **stats)
    if "busy" in base.get("flags", []) + new.get("flags", []):
        return Judgement(NOISY, ratio, change, **stats, note="flagged busy")
    machine_moved_too = drift.slower_in_new if getting_worse else drift.slower_in_base
    if machine_moved_too and new["unit"] in MACHINE_BOUND_UNITS:
        return Judgement(NOISY, ratio, change, **stats, note="the machine's own speed moved")
    if math.isnan(p_value):
        if not rule.deterministic:
            return Judgement(NOISY, ratio, change, **stats, note="no samples to test")
    elif p_value > alpha:
        return Judgement(NOISY, ratio, change, **stats, note=f"p = {p_value:.3f} > {alpha}")
    verdict = WORSE if getting_worse else BETTER
    return Judgement(verdict, ratio, change, **stats, fails_gate=verdict == WORSE and rule.gated)


def describe_change(before: float, after: float, unit: str, direction: str, rule: Rule) -> str:
    """'1.23x slower', '1.10x more', '+0.012', 'same value' ..."""
    if before == after:
        return "same value"
    if (rule.absolute is not None and rule.relative is None) or before == 0 or after == 0:
        return f"{after - before:+.4g}"
    factor = max(after / before, before / after)
    if unit == "s":
        word = "slower" if after > before else "faster"
    elif unit.endswith("/s"):
        word = "faster" if after > before else "slower"
    elif unit == "bytes":
        word = "more" if after > before else "less"
    else:
        word = "higher" if after > before else "lower"
    return f"{factor:.3g}x {word}"
