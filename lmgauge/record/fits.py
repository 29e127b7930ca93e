"""Power laws fitted on log-log axes, and where one curve reaches ten times another: the
shape of how a cost grows (with position, with parameters), from figures already measured."""

from __future__ import annotations

import numpy as np

FIT_POINTS = 4
"""An exponent along a sweep is fitted over this many largest points (where fixed per-call
costs fade)."""
TENFOLD = 10.0


def power_law(lengths, seconds) -> tuple[float, float]:
    """(exponent k, coefficient c) of seconds = c n^k fitted by least squares on logs."""
    slope, intercept = np.polyfit(np.log(lengths), np.log(seconds), 1)
    return float(slope), float(np.exp(intercept))


def fitted_exponent(medians: dict[int, float]) -> float:
    """The exponent over the FIT_POINTS longest lengths."""
    lengths = sorted(medians)[-FIT_POINTS:]
    return power_law(lengths, [medians[n] for n in lengths])[0]


def tenfold_length(no_cache: dict[int, float], cached: dict[int, float]) -> float | None:
    """The length at which a no-cache step costs TENFOLD cached steps, interpolated on log-log
    axes between the measured lengths around it; None when no measured length reaches it."""
    lengths = sorted(set(no_cache) & set(cached))
    ratios = [no_cache[n] / cached[n] for n in lengths]
    for index, ratio in enumerate(ratios):
        if ratio >= TENFOLD:
            if index == 0:
                return float(lengths[0])
            low, high = lengths[index - 1], lengths[index]
            share = np.log(TENFOLD / ratios[index - 1]) / np.log(ratio / ratios[index - 1])
            return float(np.exp(np.log(low) + share * np.log(high / low)))
    return None
