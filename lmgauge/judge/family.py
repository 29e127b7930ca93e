"""Family control for A/B verdicts: a model's gated timings are judged together.

A quick-tier A/B run judges about 200 gated timings. At 5 pairs, a figure whose pairs all lean
the same way by chance (1 in 32 a direction) is "worse" at p = 0.031, so a same-code run
(an A/A run, measured: 5 pairs, 209 gated figures) failed on 3 of them. Holm over 200 rank
tests cannot help: with 12 pairs (--max-runs) a rank test's smallest p is 1/4096, and Holm's
first step over 209 figures asks for 0.05 / 209 = 1/4180; with fewer pairs it is further off.

What moves together is tested together. A slower model is slower in all of its timings, and
the machine's slow spells hit a model's figures in the same run alike, so each model's
timings, in one setup (configuration, dtype, threads), form a family: per pair, the mean of
the family's log ratios signed so that positive is worse; Yuen's trimmed-mean t over the
pairs (one-sided; the lowest and highest pair cut from 5 pairs on, so that one pair caught in
a slow spell neither hides a change nor makes one); Holm's step-down over the families keeps
the chance that any family of a same-code run is called worse at most alpha. A family is
worse when its adjusted p <= alpha and its ratio (exp of the trimmed mean) is beyond the
paired tolerance. It is borderline (lmgauge ab adds a pair) when it is beyond the tolerance
and not significant yet, or when it reads "same" by less than half the tolerance while its
one-sided upper confidence bound (yuen_upper) still reaches the tolerance.

A timing fails the gate when its own verdict is worse and its family is worse, or when its
change is `LARGE` on its own: the whole exact interval of its ratio beyond 1.5x. Same-code
pairs were 1.3x or more apart in 6.6 % of figure pairs here (gate.toml's heavy tail); every
pair of a figure 1.5x off the same way is far rarer than that to the fifth power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from lmgauge.judge.paired import MIN_PAIRS_FOR_SIGNIFICANCE
from lmgauge.judge.spread import holm, is_finite
from lmgauge.judge.verdicts import WORSE
from lmgauge.record.units import MACHINE_BOUND_UNITS

LARGE = 1.5
"""A ratio whose whole 95 % interval lies beyond this (or below its inverse, for figures
where higher is better) is worse on its own, whatever its family says."""


@dataclass(frozen=True)
class FamilyVerdict:
    """A model's gated timings judged together over the pairs.

    ratio: exp of the trimmed mean over pairs of the per-pair mean signed log ratio (above 1:
    slower or lower throughput on the new side; for the stored gate, exp of the mean signed log
    ratio to the base, lmgauge.judge.run_family); p_value: one-sided test that the family got
    worse;
    adjusted_p: Holm's adjustment over all families of the run."""

    family: str
    figures: int
    pairs: int
    ratio: float
    p_value: float
    adjusted_p: float
    worse: bool
    borderline: bool
    unit: str = "pairs"
    """What `pairs` counts: A/B pairs, or the base runs of a stored-baseline gate."""
    test: str = "one-sided Yuen t"
    tolerance: float = math.nan
    """The family's relative tolerance (the paired tolerance): its ratio must be beyond it."""
    new_runs: int = 0
    """Stored gate only: how many runs the new side is the median of."""
    upper: float = math.nan
    """A/B only: the one-sided (1 - alpha) upper confidence bound of `ratio` (yuen_upper):
    how much worse the family could still be; infinite with fewer than 2 pairs."""

    @property
    def unresolved(self) -> bool:
        """Borderline beyond the tolerance: worse by more than it, but not significantly. When
        the pairs run out so (lmgauge ab at --max-runs), the family could not be judged, and
        fails (a verdict fails closed): it passes only when shown to be within the tolerance
        or close enough to it (the other borderline case, "same" by less than half of it)."""
        beyond = math.log(self.ratio) > math.log1p(self.tolerance)  # the scale of `worse`
        return self.borderline and not self.worse and beyond

    def unresolved_sentence(self) -> str:
        """Why an unresolved family fails once no pair can be added."""
        return (
            f"{self.family}: {self.timings()} {self.ratio:.3f}x worse together over "
            f"{self.pairs} {self.unit}, beyond the ±{100 * self.tolerance:g} % family "
            f"tolerance, but not significantly yet ({self.test}, Holm-adjusted p = "
            f"{self.adjusted_p:.3g}), and {self.pairs} pairs are all --max-runs allows: not "
            "judged, so it fails; run again with a larger --max-runs"
        )

    def timings(self) -> str:
        return ("its gated timing is" if self.figures == 1
                else f"its {self.figures} gated timings are")  # fmt: skip

    def sentence(self) -> str:
        beyond = (f", beyond the ±{100 * self.tolerance:g} % family tolerance"
                  if math.isfinite(self.tolerance) else "")  # fmt: skip
        if self.unit == "base runs":
            side = "the new run" if self.new_runs <= 1 else f"the new side's {self.new_runs} runs"
            over = f"in {side} against {self.pairs} base runs"
        else:
            over = f"over {self.pairs} {self.unit}"
        return (
            f"{self.family}: {self.timings()} {self.ratio:.3f}x worse together {over}{beyond} "
            f"({self.test}, Holm-adjusted p = {self.adjusted_p:.3g} over the run's model "
            "families)"
        )


SETUP_PARAMS = ("config", "dtype", "threads")
"""Parameters that make one model another subject: a family is a model in one setup."""
TRIM = 0.2
"""Share of the pairs Yuen's test trims from each end: from 5 pairs on, the lowest and the
highest are left out, so one pair caught in a slow spell neither hides nor makes a change."""


def family_of(row: dict) -> str:
    """The model (or the bench, for run-wide figures) in one setup: another configuration,
    dtype or thread count is another family."""
    params = row["params"]
    if isinstance(params, str):
        params = dict(item.split("=", 1) for item in params.split() if "=" in item)
    setup = [f"{name}={params[name]}" for name in SETUP_PARAMS if name in params]
    return " ".join([row["model"] or row["bench"], *setup])


def signed_logs(row: dict) -> np.ndarray:
    """Per-pair log(new / base), signed so that positive means worse."""
    logs = np.log(np.asarray(row["new_runs"], float) / np.asarray(row["base_runs"], float))
    return logs if row.get("direction", "lower") == "lower" else -logs


def judged_timing(row: dict) -> bool:
    """A gated timing with a finite positive value in every run of both sides."""
    values = [*row["base_runs"], *row["new_runs"]]
    return (row["gated"] and row["unit"] in MACHINE_BOUND_UNITS and len(row["base_runs"]) > 1
            and all(is_finite(v) and v > 0 for v in values))  # fmt: skip


def family_verdicts(rows: list[dict], alpha: float, tolerance: float) -> list[FamilyVerdict]:
    """One verdict per model family of judged gated timings, Holm-adjusted over families."""
    members: dict[str, list[np.ndarray]] = {}
    for row in filter(judged_timing, rows):
        members.setdefault(family_of(row), []).append(signed_logs(row))
    names = sorted(members)
    means = [np.mean(members[name], axis=0) for name in names]
    tests = [yuen(mean) for mean in means]
    adjusted = holm([p_value for _, p_value in tests])
    limit = math.log1p(tolerance)
    verdicts = []
    for name, mean, (shift, p_value), adjusted_p in zip(names, means, tests, adjusted,
                                                        strict=True):  # fmt: skip
        bound = yuen_upper(mean, alpha)
        worse = adjusted_p <= alpha and shift > limit
        near_limit = limit / 2 <= shift <= limit and bound >= limit
        undecided = (shift > limit and not adjusted_p <= alpha) or near_limit
        upper = math.exp(bound) if bound < 700 else math.inf
        verdicts.append(FamilyVerdict(name, len(members[name]), len(mean), math.exp(shift),
                                      p_value, adjusted_p, worse, undecided, tolerance=tolerance,
                                      upper=upper))  # fmt: skip
    return verdicts


def yuen(logs: np.ndarray) -> tuple[float, float]:
    """(trimmed mean, one-sided p) of Yuen's trimmed-mean t-test that the family's per-pair
    log ratios lean positive: `TRIM` of the pairs cut from each end, the spread from the
    winsorized pairs, h - 1 degrees of freedom for the h pairs kept (with fewer than 5 pairs
    nothing is cut: Student's t). p is 1.0 with fewer than 2 pairs kept, and 0 or 1 when the
    kept pairs do not vary."""
    centre, error, freedom = yuen_parts(logs)
    if freedom < 1:
        return centre, 1.0
    if error == 0:
        return centre, 0.0 if centre > 0 else 1.0
    return centre, float(stats.t.sf(centre / error, freedom))


def yuen_upper(logs: np.ndarray, alpha: float) -> float:
    """The one-sided (1 - alpha) upper confidence bound of the trimmed mean (yuen): below the
    tolerance, a family that reads "same" is within it at that confidence, and no pair is added
    for it. Infinite with fewer than 2 pairs kept."""
    centre, error, freedom = yuen_parts(logs)
    if freedom < 1:
        return math.inf
    return centre + float(stats.t.ppf(1 - alpha, freedom)) * error


def yuen_parts(logs: np.ndarray) -> tuple[float, float, int]:
    """(trimmed mean, its standard error, degrees of freedom) of Yuen's test (see yuen)."""
    ordered = np.sort(np.asarray(logs, dtype=float))
    count = len(ordered)
    cut = int(TRIM * count)
    kept = ordered[cut : count - cut]
    centre = float(np.mean(kept)) if len(kept) else 0.0
    if len(kept) < 2:
        return centre, math.inf, 0
    winsorized = np.clip(ordered, kept[0], kept[-1])
    spread = float(np.var(winsorized, ddof=1))
    error = math.sqrt((count - 1) * spread / (len(kept) * (len(kept) - 1)))
    return centre, error, len(kept) - 1


def large(row: dict) -> bool:
    """Whether the figure's whole interval lies beyond `LARGE` in the worse direction."""
    low, high = row.get("ci_low"), row.get("ci_high")
    if low is None or high is None or not (is_finite(low) and is_finite(high)):
        return False
    if row.get("direction", "lower") == "lower":
        return low > LARGE
    return high < 1 / LARGE


def confirm_by_family(rows: list[dict], families: list[FamilyVerdict]) -> list[dict]:
    """The rows with `fails_gate` of each worse timing kept only where its family is worse or
    its change is large; `family_worse` says which held. A timing with too few pairs for its
    own rank test, beyond the tolerance the worse way, is worse when either holds, and stays
    not judged (and fails) otherwise. Other rows are unchanged."""
    worse = {verdict.family for verdict in families if verdict.worse}
    confirmed = []
    for row in rows:
        if judged_timing(row) and row["verdict"] == WORSE:
            in_worse_family = family_of(row) in worse
            row = {**row, "family_worse": in_worse_family,
                   "fails_gate": row["fails_gate"] and (in_worse_family or large(row))}  # fmt: skip
        elif judged_timing(row) and row["fails_gate"]:
            # too few pairs for its own rank test, beyond the tolerance the worse way: it stays
            # not judged, and fails, unless its family or its size says worse
            holds = family_of(row) in worse or large(row)
            row = {**row, "family_worse": family_of(row) in worse}
            if holds:
                how = "with its model family" if row["family_worse"] else "large on its own"
                row["verdict"] = WORSE
                needs = MIN_PAIRS_FOR_SIGNIFICANCE
                row["note"] = f"worse {how}; its own rank test needs {needs} pairs"
        confirmed.append(row)
    return confirmed
