"""The verdict on one figure measured in two runs: better, worse, same, too noisy, changed,
not judged.

A change counts only when it is beyond the figure's tolerance (lmgauge.judge.gate_rules).
Timing figures (times and throughputs) are judged with the run as the unit: the new run's log
ratio to the base, after the excuses below, is compared with the figure's run-to-run spread
(lmgauge.judge.spread); compare() then controls the family of gated timing figures with
Holm's method. Other figures with per-round values on both sides (memory peaks) keep a
one-sided Mann-Whitney U over the rounds; a figure without rounds is called better or worse
only when its rule says it is deterministic. Exact figures (counts) are "same" or "changed".

Fails closed: a figure whose value is missing or not finite on either side, a gated timing
figure with no run-to-run spread to judge it by, or a gated figure that moved beyond its
tolerance the worse way with nothing to judge it by (no rounds and no rule saying it is
deterministic) is "not judged" and fails the gate. A deterministic figure is worse or better
outright, with no rank test.

Excuses are bounded once. Together they move a timing ratio by at most EXCUSE_LIMIT, applied
to the raw ratio. The speed probe (measured outside the code under test) puts the new value in
probe units whichever way the machine moved when the figure's spread was estimated in probe
units (a baseline of several runs in which that made the runs agree better); otherwise it is an
excuse only: a machine slower by more than DRIFT_TOLERANCE in the new run shrinks a worsening,
and a probe that happens to be fast never makes one (a noisy probe did, in 5 of 12 same-code
pairs). A busy flag on the *new* run (a busy base must not excuse every later regression), or
for reports without probes calibrated roofs that moved the same way, may shrink what is left
of a slowdown towards no change, but only by what the probe did not already use. So drift can
shrink a 2x change, never erase it. Every judgement keeps the raw ratio beside the normalised
one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lmgauge.judge.drift import Drift
from lmgauge.judge.gate_rules import Rule
from lmgauge.judge.significance import one_sided_p, ratio_interval, testable
from lmgauge.judge.spread import Spread, is_busy, is_finite, probe_median
from lmgauge.record.units import MACHINE_BOUND_UNITS, unit_of

BETTER, WORSE, SAME, NOISY, CHANGED = "better", "worse", "same", "too noisy", "changed"
NOT_COMPARABLE = "not comparable"
NOT_JUDGED = "not judged"
NO_DRIFT = Drift()
EXCUSE_LIMIT = 1.5
"""The largest factor by which all excuses together (machine drift, a busy machine) may move a
ratio: the largest drift measured on the shared 2-core VM within one session."""
DRIFT_TOLERANCE = 0.10
"""Speed-probe medians further apart than this (relative) mean the machine's speed moved."""


@dataclass(frozen=True)
class Judgement:
    """ratio: new / base after the excuses (the normalised ratio; nan unless both are above 0);
    raw_ratio: new / base as measured; p_value: one-sided p of the change's direction (the
    run-level test for timing figures, Mann-Whitney U over rounds for others; nan without a
    test); ci_low / ci_high: 95 % interval of the normalised ratio (nan without one);
    fails_gate: gated rule and a change for the worse, or a gated figure not judged."""

    verdict: str
    ratio: float
    change: str
    p_value: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    fails_gate: bool = False
    note: str = ""
    raw_ratio: float = math.nan


def judge(
    base: dict,
    new: dict,
    rule: Rule,
    alpha: float,
    machines_differ: bool = False,
    drift: Drift = NO_DRIFT,
    normalize: bool = True,
    interval: bool = True,
    spread: Spread | None = None,
    base_runs: int = 1,
    new_runs: int = 1,
) -> Judgement:
    """Compare one result of the base report with the same result of the new report.

    machines_differ: raw times and throughputs are not comparable at all. drift: how the
    machine's calibrated speed moved with nothing in the setup to explain it (an excuse for
    reports without speed probes). normalize: use the speed probe when the machine's speed
    moved (off when the setup differs, e.g. threads, since the probe then moves with the setup,
    not with the machine). interval: compute intervals (the bootstrap of non-timing figures is
    slow; simulations leave it out). spread: the figure's run-to-run spread (needed to judge a
    timing figure); base_runs / new_runs: how many runs each side's value is the median of."""
    if not (is_finite(base.get("value")) and is_finite(new.get("value"))):
        sides = [name for name, r in (("base", base), ("new", new))
                 if not is_finite(r.get("value"))]  # fmt: skip
        return Judgement(NOT_JUDGED, math.nan, "", fails_gate=rule.gated,
                         note=f"not a finite number in {' and '.join(sides)}")  # fmt: skip
    before, after = float(base["value"]), float(new["value"])
    ratio = ratio_of(before, after)
    change = describe_change(before, after, new["unit"], new["direction"], rule)
    if machines_differ and new["unit"] in MACHINE_BOUND_UNITS:
        note = "machines differ: a raw time cannot be judged (gate against a baseline made here)"
        return Judgement(NOT_COMPARABLE, ratio, change, fails_gate=rule.gated, note=note,
                         raw_ratio=ratio)  # fmt: skip
    if new["direction"] == "exact" or rule.exact:
        changed = rule.beyond(before, after) if rule.exact else before != after
        verdict = CHANGED if changed else SAME
        return Judgement(verdict, ratio, change, fails_gate=changed and rule.gated, raw_ratio=ratio)
    if new["unit"] in MACHINE_BOUND_UNITS or (rule.run_spread and not rule.deterministic):
        return judge_timing(base, new, rule, alpha, drift, normalize, spread,
                            (base_runs, new_runs))
    return judge_by_rounds(base, new, rule, alpha, interval, change)


def judge_by_rounds(base, new, rule, alpha, interval, change) -> Judgement:
    """A figure that is not a timing: its rule's tolerance; beyond it, better or worse outright
    when the rule says it is deterministic, else by a rank test over rounds when both sides have
    them (without rounds, a gated figure beyond its tolerance the worse way is not judged and
    fails)."""
    before, after = float(base["value"]), float(new["value"])
    ratio = ratio_of(before, after)
    stats = significance(round_values(base), round_values(new), after > before,
                         interval and not math.isnan(ratio))  # fmt: skip
    if rule.deterministic:
        stats["p_value"] = math.nan  # judged by its tolerance alone: Holm's family leaves it out
    if not rule.beyond(before, after):
        return Judgement(SAME, ratio, change, **stats, raw_ratio=ratio)
    getting_worse = (after > before) == (new["direction"] == "lower")
    if not rule.deterministic and math.isnan(stats["p_value"]):
        if getting_worse and rule.gated:
            return Judgement(NOT_JUDGED, ratio, change, **stats, fails_gate=True,
                             note="not judged: beyond the tolerance the worse way, with no "
                             "rounds to test and no rule saying it is deterministic",
                             raw_ratio=ratio)  # fmt: skip
        return Judgement(NOISY, ratio, change, **stats, note="no rounds to test",
                         raw_ratio=ratio)  # fmt: skip
    if not rule.deterministic and stats["p_value"] > alpha:
        note = f"p = {stats['p_value']:.3f} > {alpha}"
        return Judgement(NOISY, ratio, change, **stats, note=note, raw_ratio=ratio)
    verdict = WORSE if getting_worse else BETTER
    return Judgement(verdict, ratio, change, **stats, fails_gate=verdict == WORSE and rule.gated,
                     raw_ratio=ratio)  # fmt: skip


def zero_measured(metric: str, before: float, after: float) -> bool:
    """Whether a zero on either side is a measured outcome of `metric` (its catalogue entry's
    zero_is_a_value) rather than a broken timing, the other side being finite and not below
    zero."""
    from lmgauge.record.metrics import zero_is_a_value

    numbers = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (before, after))
    return bool(zero_is_a_value(metric) and numbers and 0 in (before, after)
                and min(before, after) >= 0)  # fmt: skip


def judge_timing(base, new, rule, alpha, drift, normalize, spread, runs=(1, 1)) -> Judgement:
    """A time or throughput, or another figure that moves from run to run (a memory peak: its
    rule has a run_spread and is not deterministic), the run as the unit (see the module
    docstring); excuses apply to times and throughputs only. runs: (base runs, new runs) that
    the two values are medians of."""
    before, after = float(base["value"]), float(new["value"])
    raw_ratio = after / before if before and after else math.nan
    if zero_measured(new.get("metric", ""), before, after):
        verdict = SAME if before == after else WORSE if (after > before) == (
            new["direction"] == "lower") else BETTER  # fmt: skip
        return Judgement(verdict, raw_ratio, f"{before:g} -> {after:g}",
                         fails_gate=verdict == WORSE and rule.gated, raw_ratio=raw_ratio,
                         note="zero is a measured value of this figure")  # fmt: skip
    if not (before > 0 and after > 0):
        return Judgement(NOT_JUDGED, raw_ratio, "", fails_gate=rule.gated,
                         note="a timing of zero or less", raw_ratio=raw_ratio)  # fmt: skip
    sign = 1.0 if new["direction"] == "lower" else -1.0  # positive log change = worse
    both_ways = spread is not None and spread.normalised
    timing = new["unit"] in MACHINE_BOUND_UNITS
    worse_log, notes = sign * math.log(raw_ratio), []
    after_probe = worse_log
    if timing:
        worse_log, notes, after_probe = excused(worse_log, base, new, drift, normalize, both_ways)
    ratio = math.exp(sign * worse_log)
    normalised_after = before * ratio
    change = describe_change(before, normalised_after, new["unit"], new["direction"], rule)
    if ratio != raw_ratio:
        notes.insert(0, f"raw {raw_ratio:.3f}x, normalised {ratio:.3f}x")
    common = {"raw_ratio": raw_ratio}
    tested = {}
    if spread is not None:
        low, high = spread.interval(math.log(ratio), *runs)
        notes.append(f"run-to-run spread {100 * spread.sigma:.1f} % ({spread.source})")
        tested = {"p_value": spread.p_worse(abs(worse_log), *runs), "ci_low": low,
                  "ci_high": high}  # fmt: skip
    if not rule.beyond(before, normalised_after):
        measured_after = before * math.exp(sign * after_probe)
        if after_probe > worse_log and rule.beyond(before, measured_after):
            raw = describe_change(before, measured_after, new["unit"], new["direction"], rule)
            return Judgement(NOISY, ratio, f"{raw} before the excuse", **tested,
                             note="; ".join([*notes, UNMEASURED_EXCUSE]), **common)  # fmt: skip
        return Judgement(SAME, ratio, change, **tested, note="; ".join(notes), **common)
    if spread is None:
        if not rule.gated:
            return Judgement(NOISY, ratio, change, note="; ".join([*notes, "no run-to-run spread"]),
                             **common)  # fmt: skip
        # the reason alone (no excuse notes, which differ per figure): the gate's message
        # groups not-judged figures by it
        return Judgement(NOT_JUDGED, ratio, change, fails_gate=True, note=NO_SPREAD, **common)
    if tested["p_value"] > alpha:
        return Judgement(NOISY, ratio, change, **tested, note="; ".join(notes), **common)
    verdict = WORSE if worse_log > 0 else BETTER
    return Judgement(verdict, ratio, change, fails_gate=verdict == WORSE and rule.gated, **tested,
                     note="; ".join(notes), **common)  # fmt: skip


def excused(
    worse_log: float, base: dict, new: dict, drift: Drift, normalize: bool, both_ways: bool
):  # fmt: skip
    """The change in natural-log units (positive: worse) once the excuses are applied, with a
    note per excuse, and the change after the probe alone (before a busy flag or moved roofs
    shrank it). The speed probe first, capped at EXCUSE_LIMIT: with `both_ways` (the
    spread was estimated in probe units) the value is put in probe units whichever way the
    machine moved; otherwise the probe is an excuse only: a machine that was slower by more
    than DRIFT_TOLERANCE in the new run shrinks a worsening (a noisy probe never makes one).
    Then a busy new run, or for reports without probes roofs that moved the same way, may
    shrink a remaining worsening towards zero by whatever is left of log(EXCUSE_LIMIT)."""
    limit = math.log(EXCUSE_LIMIT)
    notes = [note] if normalize and (note := set_aside_probe(base, new)) else []
    used = 0.0
    probe_log = math.log(speed_ratio(base, new)) if normalize else 0.0
    slower_beyond = probe_log > math.log1p(DRIFT_TOLERANCE) and worse_log > 0
    if probe_log and (both_ways or slower_beyond):
        capped = max(-limit, min(limit, probe_log))
        if not both_ways:
            capped = min(capped, worse_log)
        worse_log -= capped  # a slower machine moves times and throughputs alike towards worse
        used = abs(capped)
        how = "normalised by" if both_ways else "excused by"
        if abs(capped) > 0.01:
            speed = math.exp(probe_log)
            notes.append(f"{how} the speed probe: machine {speed:.2f}x as slow in new")
    after_probe = worse_log
    reason = timing_excuse(base, new, drift)
    if reason and worse_log > 0:
        shrink = min(worse_log, max(0.0, limit - used))
        worse_log -= shrink
        left = f"; what is left beyond {EXCUSE_LIMIT}x in all still counts" if worse_log else ""
        notes.append(f"{reason}: excused {math.exp(shrink):.2f}x{left}")
    return worse_log, notes, after_probe


NO_SPREAD = ("not judged: no run-to-run spread for this figure (give a baseline of several runs, "
             "or a run_spread in the gate rules)")

UNMEASURED_EXCUSE = "an excuse that measured nothing cannot clear a change: not cleared"
"""The note of a change that a busy flag or moved roofs (which say the machine may have been
slower, not by how much) brought within its tolerance: "too noisy" (passed, not cleared, and
named by the gate), never "same"."""


def significance(base_rounds: list, new_rounds: list, greater: bool, interval: bool) -> dict:
    """p_value (one-sided rank test over rounds) and the ratio's interval (ci_low, ci_high);
    NaN where there are too few rounds, or for the interval when `interval` is false."""
    p_value = ci_low = ci_high = math.nan
    if testable(base_rounds, new_rounds):
        p_value = one_sided_p(base_rounds, new_rounds, greater=greater)
        if interval:
            ci_low, ci_high = ratio_interval(base_rounds, new_rounds)
    return {"p_value": p_value, "ci_low": ci_low, "ci_high": ci_high}


def timing_excuse(base: dict, new: dict, drift: Drift) -> str:
    """Why a slower timing might be the machine's, not the code's: the new run's results
    flagged busy, or (for results without speed probes: reports of formats 1 and 2) the
    calibrated speed fell in the new run; "" if neither. A busy base run excuses nothing, and
    probe times that are null or not positive excuse nothing either (they are probes all the
    same, so the roofs do not stand in for them)."""
    if is_busy(new):
        return "new run flagged busy"
    probed = bool(base.get("probe_seconds")) and bool(new.get("probe_seconds"))
    if not probed and drift.slower_in_new:
        return "the machine's calibrated speed fell in the new run"
    return ""


def round_values(result: dict) -> list:
    """The per-round values of a result (its samples when each sample is a round)."""
    return result.get("rounds") or result["samples"]


PLAUSIBLE_SPEED_RATIO = 4.0
"""The most a machine's speed is taken to have moved between two runs, either way: the 2-core
VMs this was built on moved by 2x at most from one day to the next. A probe ratio beyond it is
a broken probe (a hand-edited report, a probe that timed something else), which excuses
nothing."""


def probe_ratio(base: dict, new: dict) -> float | None:
    """Median probe time of the new run / of the base run (above 1: the machine was slower in
    the new run), as measured; None when either result has no usable probe (probe_median)."""
    before, after = probe_median(base), probe_median(new)
    return after / before if before and after else None


def plausible(ratio: float) -> bool:
    """Whether a probe ratio is within PLAUSIBLE_SPEED_RATIO either way."""
    return 1 / PLAUSIBLE_SPEED_RATIO <= ratio <= PLAUSIBLE_SPEED_RATIO


def speed_ratio(base: dict, new: dict) -> float:
    """probe_ratio, or 1.0 when there is none or it is beyond PLAUSIBLE_SPEED_RATIO either
    way."""
    ratio = probe_ratio(base, new)
    return ratio if ratio is not None and plausible(ratio) else 1.0


def set_aside_probe(base: dict, new: dict) -> str:
    """A note when the probes' ratio was set aside as beyond PLAUSIBLE_SPEED_RATIO ("" when
    not), so that a verdict says why the probe excused nothing."""
    ratio = probe_ratio(base, new)
    if ratio is None or plausible(ratio):
        return ""
    speed = f"{ratio:.3g}x as slow" if ratio > 1 else f"{1 / ratio:.3g}x as fast"
    return (f"speed probe set aside: it read the machine {speed} in new, beyond "
            f"{PLAUSIBLE_SPEED_RATIO:g}x either way (a broken probe), so it excuses nothing")


def value_text(value: float, sign: str = "") -> str:
    """A value for a verdict: a whole number in full up to 15 digits (134515008, not 1.345e+08,
    so that a count off by one shows), any other at 4 significant digits; `sign` "+" signs
    it (a difference)."""
    if isinstance(value, (int, float)) and math.isfinite(value) and value == int(value) \
            and abs(value) < 1e15:
        return f"{int(value):{sign}d}"
    return f"{value:{sign}.4g}"


def difference_text(difference: float) -> str:
    """A signed difference: "-134515008", "+1", "+0.01234"."""
    return value_text(difference, "+")


def ratio_of(before: float, after: float) -> float:
    """new / base, or nan where a ratio means nothing: a value at or below zero on either side
    (a change across zero, or between negative values, reads as a difference instead)."""
    return after / before if before > 0 and after > 0 else math.nan


def describe_change(before: float, after: float, unit: str, direction: str, rule: Rule) -> str:
    """'1.23x slower', '1.10x more', '+0.012', 'same value' ...: a difference, not a factor,
    where a factor means nothing (a value at or below zero on either side) or the rule judges
    by absolute change."""
    if before == after:
        return "same value"
    if (rule.absolute is not None and rule.relative is None) or before <= 0 or after <= 0:
        return difference_text(after - before)
    factor = max(after / before, before / after)
    if f"{factor:.3g}" == "1":  # a count off by one in a hundred million: "1x more" hides it
        return difference_text(after - before)
    meaning = unit_of(unit)
    return f"{factor:.3g}x {meaning.larger if after > before else meaning.smaller}"
