"""The verdict on one figure measured in two runs: better, worse, same, too noisy, changed.

A change counts only when it is beyond the figure's tolerance (lmgauge.judge.gate_rules). With
per-round values on both sides it must also be significant (one-sided Mann-Whitney U over the
rounds, p <= alpha) to be called better or worse; otherwise it is "too noisy". Rounds are the
statistical unit: the steps of one round share the machine's state and are never pooled. A
figure without rounds is called better or worse only when its rule says it is deterministic.
Exact figures (counts) are "same" or "changed".

Excuses have limits. They apply to timing figures only (times and throughputs), never to
memory, counts, accuracy or perplexity. When the speed probe beside the rounds says the machine
ran at another speed in the other run (more than DRIFT_TOLERANCE apart), the new run's rounds
are divided by that speed ratio (times; multiplied for throughputs), capped at EXCUSE_LIMIT. A
result flagged busy is "too noisy" only while its change is within EXCUSE_LIMIT; so is one that
moved the way the calibrated roofs moved, but only when a run has no speed probes to normalise
by (reports before format 3): the roofs are measured once at each end of a session and were
seen to move between sessions by far more than the speed of a model did. So drift can shrink a
2x change, never erase it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from lmgauge.judge.drift import MACHINE_BOUND_UNITS, Drift
from lmgauge.judge.gate_rules import Rule
from lmgauge.judge.significance import one_sided_p, ratio_interval, testable

BETTER, WORSE, SAME, NOISY, CHANGED = "better", "worse", "same", "too noisy", "changed"
NOT_COMPARABLE = "not comparable"
NO_DRIFT = Drift()
EXCUSE_LIMIT = 1.5
"""The largest change (as a factor) that machine drift or a busy machine may explain: the
largest drift measured on the shared 2-core VM within one session."""
DRIFT_TOLERANCE = 0.10
"""Speed-probe medians further apart than this (relative) mean the machine's speed moved."""


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
    normalize: bool = True,
    interval: bool = True,
) -> Judgement:
    """Compare one result of the base report with the same result of the new report.

    machines_differ: raw times and throughputs are not comparable at all. drift: how the
    machine's calibrated speed moved with nothing in the setup to explain it; a raw time or
    throughput that moved the way the machine did is "too noisy", not better or worse.
    normalize: use the speed probe when the machine's speed moved (off when the setup differs,
    e.g. threads, since the probe then moves with the setup, not with the machine).
    interval: compute the bootstrap interval (slow; simulations that need only the verdict
    leave it out)."""
    before, after = float(base["value"]), float(new["value"])
    ratio = after / before if before else math.nan
    change = describe_change(before, after, new["unit"], new["direction"], rule)
    if machines_differ and new["unit"] in MACHINE_BOUND_UNITS:
        return Judgement(NOT_COMPARABLE, ratio, change, note="machines differ")
    if new["direction"] == "exact" or rule.exact:
        changed = rule.beyond(before, after) if rule.exact else before != after
        verdict = CHANGED if changed else SAME
        return Judgement(verdict, ratio, change, fails_gate=changed and rule.gated)
    timing = new["unit"] in MACHINE_BOUND_UNITS
    base_rounds, new_rounds = round_values(base), round_values(new)
    correction, notes = probe_correction(base, new) if timing and normalize else (1.0, [])
    new_rounds = [value * correction for value in new_rounds]
    after *= correction
    getting_worse = (after > before) == (new["direction"] == "lower")
    stats = significance(base_rounds, new_rounds, after > before, interval)
    if not rule.beyond(before, after):
        return Judgement(SAME, ratio, change, **stats, note="; ".join(notes))
    factor = max(after / before, before / after) if before and after else math.inf
    excuse = timing_excuse(base, new, drift, getting_worse) if timing else ""
    if excuse and factor <= EXCUSE_LIMIT:
        return Judgement(NOISY, ratio, change, **stats, note="; ".join([*notes, excuse]))
    if excuse:
        notes.append(f"{excuse}, but the change is beyond {EXCUSE_LIMIT}x")
    note = "; ".join(notes)
    if math.isnan(stats["p_value"]):
        if not rule.deterministic:
            return Judgement(NOISY, ratio, change, **stats, note=note or "no rounds to test")
    elif stats["p_value"] > alpha:
        note = "; ".join([*notes, f"p = {stats['p_value']:.3f} > {alpha}"])
        return Judgement(NOISY, ratio, change, **stats, note=note)
    verdict = WORSE if getting_worse else BETTER
    return Judgement(
        verdict, ratio, change, **stats, fails_gate=verdict == WORSE and rule.gated, note=note
    )


def probe_correction(base: dict, new: dict) -> tuple[float, list[str]]:
    """The factor that puts the new run's time or throughput on the base run's machine speed,
    when the two runs' speed probes differ by more than DRIFT_TOLERANCE (capped at
    EXCUSE_LIMIT), with a note saying so; (1.0, []) otherwise."""
    probe_ratio = speed_ratio(base, new)
    if abs(probe_ratio - 1) <= DRIFT_TOLERANCE:
        return 1.0, []
    capped = min(max(probe_ratio, 1 / EXCUSE_LIMIT), EXCUSE_LIMIT)
    correction = 1 / capped if new["unit"] == "s" else capped
    return correction, [f"normalised by the speed probe (machine {probe_ratio:.2f}x as slow)"]


def significance(base_rounds: list, new_rounds: list, greater: bool, interval: bool) -> dict:
    """p_value (one-sided rank test over rounds) and the ratio's interval (ci_low, ci_high);
    NaN where there are too few rounds, or for the interval when `interval` is false."""
    p_value = ci_low = ci_high = math.nan
    if testable(base_rounds, new_rounds):
        p_value = one_sided_p(base_rounds, new_rounds, greater=greater)
        if interval:
            ci_low, ci_high = ratio_interval(base_rounds, new_rounds)
    return {"p_value": p_value, "ci_low": ci_low, "ci_high": ci_high}


def timing_excuse(base: dict, new: dict, drift: Drift, getting_worse: bool) -> str:
    """Why a timing change might be the machine's, not the code's: a result flagged busy, or
    (for reports without speed probes) the calibrated speed moved the same way; "" if neither."""
    if "busy" in base.get("flags", []) + new.get("flags", []):
        return "flagged busy"
    probed = bool(base.get("probe_seconds")) and bool(new.get("probe_seconds"))
    if not probed and (drift.slower_in_new if getting_worse else drift.slower_in_base):
        return "the machine's calibrated speed moved the same way"
    return ""


def round_values(result: dict) -> list:
    """The per-round values of a result (its samples when each sample is a round)."""
    return result.get("rounds") or result["samples"]


def speed_ratio(base: dict, new: dict) -> float:
    """Median probe time of the new run / of the base run (above 1: the machine was slower in
    the new run); 1.0 when either result has no probes."""
    if not base.get("probe_seconds") or not new.get("probe_seconds"):
        return 1.0
    return statistics.median(new["probe_seconds"]) / statistics.median(base["probe_seconds"])


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
