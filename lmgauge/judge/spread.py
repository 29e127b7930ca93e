"""How much a figure moves from run to run of the same code on one runner: the unit of the
stored-baseline gate.

Rounds of one run share the machine's state, so two runs differ by more than their rounds say:
a rank test over one run's rounds against another's reaches its floor whenever the runs differ
by more than round noise, and then only the tolerance decides (7 of 12 same-code pairs of the
quick tier failed that way). The gate instead asks whether the new run's value lies outside
what runs of the same code do: its log ratio to the base is compared with the figure's
run-to-run standard deviation of log value (`sigma`).

Where sigma comes from, in order: the base itself when it is several runs of one code (a
baseline folder: MIN_SPREAD_RUNS (five) or more runs with the figure; the base value is then
their median), or
the rule's `run_spread` in gate.toml (measured on the 2-core CI VM and stated there). A gated
timing figure with neither cannot be judged, and fails.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from lmgauge.judge.keys import indexed
from lmgauge.record.units import unit_of

MIN_SPREAD_RUNS = 5
"""Fewest base runs from which a figure's run-to-run spread (and a model family's) is estimated;
with fewer, a folder's median is judged by the rules' stated run_spread. From 3 runs, Student's
t on 2 degrees of freedom under Holm's correction over about 100 gated timings needed a timing
about 250x worse (at the VM's 0.107 spread) before it could fail, and a family about 3.4x,
where the stated spread needs about 2x: a base folder of 3 or 4 runs judged almost nothing."""
MIN_SIGMA = 0.005
"""The smallest spread a figure is judged by (0.5 % in log units): runs whose values agree
exactly (a timer's resolution, a cached result) would otherwise make any change infinitely
significant."""


@dataclass(frozen=True)
class Spread:
    """sigma: standard deviation of the figure's natural-log value between runs of the same
    code on this runner (0.05 is about 5 %); runs: how many runs it was estimated from (0 for a
    stated default, which is then taken as known); source: where it came from, in words;
    normalised: sigma is the spread of the value in speed-probe units (log value minus log
    probe time for times, plus for throughputs), which the base runs showed to be the smaller
    of the two: the verdict then normalises by the probe both ways, as the spread did."""

    sigma: float
    runs: int
    source: str
    normalised: bool = False
    raw_sigma: float | None = None
    """For a normalised spread: the spread of the raw log value, which judges a ratio that the
    probe did not normalise (probes that differ, a setup change, a new side of several runs)."""

    def unnormalised(self) -> Spread:
        """This spread as one of raw values (itself when it already is one)."""
        if not self.normalised or self.raw_sigma is None:
            return self
        return Spread(self.raw_sigma, self.runs, f"{self.runs} base runs")

    def scale(self, base_runs: int, new_runs: int = 1) -> float:
        """Standard deviation of the log difference of a new side that is the median of
        `new_runs` runs and a base that is the median of `base_runs`: sigma x sqrt(1/n + 1/k)
        (a median of several runs taken as precise as their mean: slightly optimistic)."""
        return max(self.sigma, MIN_SIGMA) * math.sqrt(1 / max(new_runs, 1) + 1 / max(base_runs, 1))

    def p_worse(self, log_change: float, base_runs: int, new_runs: int = 1) -> float:
        """One-sided p that a new side of the same code (`new_runs` runs) lies `log_change`
        (natural log, worse direction positive) or further beyond a base that is the median of
        `base_runs` runs; Student's t with runs - 1 degrees of freedom when sigma was
        estimated, normal when it is a stated default."""
        statistic = log_change / self.scale(base_runs, new_runs)
        if self.runs >= 2:
            return float(stats.t.sf(statistic, self.runs - 1))
        return float(stats.norm.sf(statistic))

    def interval(self, log_change: float, base_runs: int, new_runs: int = 1) -> tuple[float, float]:
        """95 % interval of the new / base ratio of the code's speed (as a ratio)."""
        scale = self.scale(base_runs, new_runs)
        quantile = stats.t.ppf(0.975, self.runs - 1) if self.runs >= 2 else 1.96
        return math.exp(log_change - quantile * scale), math.exp(log_change + quantile * scale)


@dataclass(frozen=True)
class Baseline:
    """What a run is gated against: `document` (one run, or for several runs of one code a run
    whose values are the medians over them, and whose failed tests are those of any run),
    `runs` (how many runs it stands for), `spreads` (per result key, the run-to-run spread
    estimated from those runs), `counts` (per result key, how many runs have a finite
    value: the k of the base median) and `run_values` (per result key, its value in each run,
    in run order, nan where a run lacks it: what a model family's spread is estimated from);
    `busy_left_out`: how many figure values of busy base runs were left out (combined)."""

    document: dict
    runs: int = 1
    spreads: dict | None = None
    counts: dict | None = None
    run_values: dict | None = None
    busy_left_out: int = 0
    busy_everywhere: int = 0
    """How many figures every base run measured while flagged busy (kept: nothing calm)."""
    unusable: dict = field(default_factory=dict)
    """Per result key, how many runs hold the figure with a value no median may take (usable):
    NaN, null, a timing of zero or less (combined)."""
    missing: dict = field(default_factory=dict)
    """Per result key, how many runs lack a figure that other runs hold (combined), unless
    the run skipped the figure's test on what it measured (a step too short to cross-check:
    such skips may differ between runs of one code)."""
    identities: dict = field(default_factory=dict)
    """Each run_identities key of the runs it stands for -> the file it was read from (set by
    judge.run_folder.read_baseline; empty for documents given directly)."""

    def busy_sentence(self) -> str:
        """What was left out of the base as busy, and what was busy in every base run, in words
        ("" when neither)."""
        parts = []
        if self.busy_left_out:
            values = "value" if self.busy_left_out == 1 else "values"
            were = "was" if self.busy_left_out == 1 else "were"
            parts.append(f"{self.busy_left_out} figure {values} that base runs measured while the "
                         f"machine was busy {were} left out of the base's medians, spreads and "
                         "model families")  # fmt: skip
        if self.busy_everywhere:
            parts.append(f"{self.busy_everywhere} figure{'s' * (self.busy_everywhere > 1)} every "
                         "base run measured while busy (gated timings among them are not "
                         "judged, and fail)")  # fmt: skip
        return "; ".join(parts)


def run_identities(document: dict) -> list[tuple]:
    """What tells one run from another, each enough to call two reports one run: ("made",
    created_utc, result count), when the report says when it was made; ("timings", digest) of
    every timing's samples and rounds, when it holds any (no two runs measure the same times
    to the last digit, so a copy whose created_utc was changed still matches)."""
    from lmgauge.record.units import MACHINE_BOUND_UNITS

    keys = []
    if (made := document.get("created_utc")) is not None:
        keys.append(("made", str(made), len(document["results"])))
    timings = [[result.get("samples", []), result.get("rounds", [])]
               for result in document["results"] if result.get("unit") in MACHINE_BOUND_UNITS]
    if any(samples or rounds for samples, rounds in timings):
        digest = hashlib.sha256(json.dumps(timings, default=str).encode()).hexdigest()
        keys.append(("timings", digest))
    return keys


def identity_words(key: tuple) -> str:
    """A run_identities key in words: "made 2026-12-03T19:19:35+00:00" or "with the same
    timings"."""
    return f"made {key[1]}" if key[0] == "made" else "with the same timings to the last digit"


def single(document: dict) -> Baseline:
    return Baseline(document, 1, {}, {}, {})


def combined(documents: list[dict], leave_out_busy: bool = False) -> Baseline:
    """Several run reports of the same code as one side: the first run's document with each
    figure's value replaced by the median over the runs that have it usable (spread.usable),
    and its run-to-run spread
    (standard deviation of the log values) where at least MIN_SPREAD_RUNS runs have it
    finite and positive. A figure missing from some runs keeps the median of the others (the
    gate fails such a figure on a new side of several runs: Comparison's rows). The status is
    that of a run that did not finish if any did not; "busy" as merged_flags says.

    With `leave_out_busy` (a base, never a new side: an excuse may not erase a change), a value
    flagged busy is left out of the median, the spread and run_values whenever some run has the
    figure calm: one base run caught by a busy neighbour (40x slower) would otherwise inflate
    the spread until a 4.9x slowdown passed as "too noisy"."""
    if len(documents) == 1:
        return single(documents[0])
    indexes = [indexed(document) for document in documents]
    failed = [item for document in documents
              for item in document.get("tests", {}).get("not_passed", [])]  # fmt: skip
    listed = all("passed" in (document.get("tests") or {}) for document in documents)
    passed = sorted({test for document in documents
                     for test in document.get("tests", {}).get("passed", [])})  # fmt: skip
    base = {**documents[0], "results": [],
            "run": {**documents[0].get("run", {}), "status": combined_status(documents)}}
    base.pop("tests", None)  # kept only when every run lists its tests
    if all(isinstance(document.get("tests"), dict) for document in documents):
        base["tests"] = {"not_passed": failed, **({"passed": passed} if listed else {})}
    spreads, counts, run_values, left_out, all_busy, unusable, missing = {}, {}, {}, 0, 0, {}, {}
    keys = list(dict.fromkeys(key for index in indexes for key in index))
    measured_skips = [{item.get("test") for item in (document.get("tests") or {}).get(
        "not_passed", []) if item.get("measured")} for document in documents]  # fmt: skip
    for key in keys:
        found = [index.get(key) for index in indexes]
        if leave_out_busy and any(r is not None and usable(r) and not is_busy(r) for r in found):
            left_out += sum(r is not None and is_busy(r) for r in found)
            found = [None if r is None or is_busy(r) else r for r in found]
        elif leave_out_busy and any(r is not None for r in found):
            all_busy += 1
        test = next(index[key].get("test") for index in indexes if key in index)
        if absent := sum(key not in index and test not in skipped
                         for index, skipped in zip(indexes, measured_skips, strict=True)):
            missing[key] = absent
        results = [r for r in found if r is not None]
        if broken := sum(not usable(r) for r in results):
            unusable[key] = broken
        run_values[key] = [float(r["value"]) if r is not None and usable(r) else math.nan
                           for r in found]  # fmt: skip
        values = [float(r["value"]) for r in results if usable(r)]
        probes = [p for r in results for p in r.get("probe_seconds", [])]
        merged = {**results[0], "rounds": [], "samples": [], "probe_seconds": probes}
        merged["value"] = float(np.median(values)) if values else math.nan
        merged["flags"] = merged_flags(results)
        base["results"].append(merged)
        counts[key] = len(values)
        spread = estimated_spread(results)
        if spread is not None:
            spreads[key] = spread
    return Baseline(base, len(documents), spreads, counts, run_values, left_out, all_busy,
                    unusable, missing)  # fmt: skip


def is_busy(result: dict) -> bool:
    return "busy" in result.get("flags", [])


def merged_flags(results: list[dict]) -> list[str]:
    """The flags of a figure's median over several runs: any run's, except "busy", which holds
    for the median only when more than half of the runs were busy (one busy run of three
    neither moves a median nor excuses it)."""
    flags = {flag for r in results for flag in r.get("flags", []) if flag != "busy"}
    if sum(map(is_busy, results)) * 2 > len(results):
        flags.add("busy")
    return sorted(flags)


FINISHED = ("passed", "failed")
"""Run statuses of a run that ran to its end (its tests may have failed)."""


def combined_status(documents: list[dict]) -> str | None:
    """The status of several runs taken together: the first that did not finish (interrupted,
    killed ...), else "failed" when any run failed, else the first run's."""
    statuses = [document.get("run", {}).get("status") for document in documents]
    unfinished = next((s for s in statuses if s is not None and s not in FINISHED), None)
    return unfinished or ("failed" if "failed" in statuses else statuses[0])


def estimated_spread(results: list[dict]) -> Spread | None:
    """The run-to-run spread of one figure over the base runs' `results`: of its log value, or
    of its log value in speed-probe units when every run has probes and that spread is the
    smaller (the probe then explains part of the runs' differences); None with fewer than
    MIN_SPREAD_RUNS finite positive values."""
    usable = [r for r in results if is_finite(r["value"]) and r["value"] > 0]
    if len(usable) < MIN_SPREAD_RUNS:
        return None
    count = len(usable)
    raw = float(np.std(np.log([r["value"] for r in usable]), ddof=1))
    normalised = [probe_units_log(r) for r in usable]
    if all(v is not None for v in normalised):
        in_probe_units = float(np.std(normalised, ddof=1))
        if in_probe_units < raw:
            return Spread(in_probe_units, count, f"{count} base runs, in speed-probe units", True,
                          raw)
    return Spread(raw, count, f"{count} base runs")


def probe_units_log(result: dict) -> float | None:
    """log(value) minus (times) or plus (rates) log of the median speed probe beside it: the
    value with the machine's momentary speed taken out; None without probes, or for a unit the
    machine's speed does not move (lmgauge.record.units)."""
    probe = probe_median(result)
    sign = unit_of(result["unit"]).speed_sign
    if probe is None or not sign:
        return None
    return math.log(result["value"]) - sign * math.log(probe)


def probe_median(result: dict) -> float | None:
    """The median of a result's speed-probe times (s); None when it has none, or when any is
    null, NaN or not positive: the probe writes a finite time or stops the run, so such a list
    was broken or edited, and a broken probe excuses nothing (the median of what is left of
    it had excused a 1.5x slowdown)."""
    times = list(result.get("probe_seconds") or ())
    if not times or not all(is_finite(t) and t > 0 for t in times):
        return None
    return float(np.median(times))


def is_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def usable(result: dict) -> bool:
    """Whether a run's value of a figure can stand in a median over runs: a finite number, and
    for a time or rate above zero unless zero is a measured value of it (goodput); a timing of
    zero or less is a broken measurement, which a median would hide."""
    from lmgauge.record.metrics import zero_is_a_value
    from lmgauge.record.units import MACHINE_BOUND_UNITS

    value = result.get("value")
    if not is_finite(value):
        return False
    if result.get("unit") in MACHINE_BOUND_UNITS and value <= 0:
        return value == 0 and zero_is_a_value(result.get("metric", ""))
    return True


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (the family-wise error stays at most alpha when a
    figure counts as significant at adjusted p <= alpha), in the input order. A p that is not
    a number stays NaN and still counts in the family's size, so it makes no other p smaller."""
    known = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    order = sorted(known, key=lambda i: p_values[i])
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
