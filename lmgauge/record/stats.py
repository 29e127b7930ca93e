"""Summaries of raw samples: the numbers a report shows next to the samples themselves."""

from __future__ import annotations

import statistics

import numpy as np

CV_LIMIT = 0.10
"""A result whose coefficient of variation (stdev / mean) exceeds this is flagged `noisy`."""


def summarize(samples) -> dict:
    """n, median, q1, q3, iqr, min, max, mean, stdev, cv, p90, p99 of `samples` (same unit).

    Percentiles use linear interpolation; stdev is the sample standard deviation (0 for n=1).
    """
    values = np.asarray(list(samples), dtype=float)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    q1, median, q3, p90, p99 = np.percentile(values, [25, 50, 75, 90, 99])
    mean = float(values.mean())
    stdev = statistics.stdev(values) if values.size > 1 else 0.0
    return {
        "n": int(values.size),
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": mean,
        "stdev": float(stdev),
        "cv": float(stdev / mean) if mean else 0.0,
        "p90": float(p90),
        "p99": float(p99),
    }
