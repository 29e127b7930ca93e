"""Is a change between two runs real? A rank test and an interval of the ratio.

Both work on the per-round values of one figure in two runs (for decode steps the median step
of each round), never on pooled steps: the steps of one round share the machine's state and are
not independent evidence.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

MIN_SAMPLES = 3
"""Fewer rounds than this on either side: no test is made."""


def one_sided_p(base, new, greater: bool) -> float:
    """p-value of Mann-Whitney U's one-sided test that `new` tends to be greater (or smaller,
    with greater=False) than `base`. Rounds that never overlap give 1 / C(n + m, n): 0.05 with
    3 against 3, 1/252 = 0.004 with 5 against 5."""
    alternative = "greater" if greater else "less"
    return float(stats.mannwhitneyu(new, base, alternative=alternative).pvalue)


def ratio_interval(base, new, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Bootstrap percentile interval of median(new) / median(base), resampling each run's
    rounds on its own (2000 resamples, seeded)."""

    def median_ratio(new_sample, base_sample, axis=-1):
        return np.median(new_sample, axis=axis) / np.median(base_sample, axis=axis)

    result = stats.bootstrap(
        (np.asarray(new, dtype=float), np.asarray(base, dtype=float)),
        median_ratio,
        n_resamples=2000,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        paired=False,
        random_state=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)


def testable(base, new) -> bool:
    return len(base) >= MIN_SAMPLES and len(new) >= MIN_SAMPLES
