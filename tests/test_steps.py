"""Steps in a history: measured false-alarm and detection rates on synthetic series."""

from __future__ import annotations

import numpy as np

from lmgauge.judge.steps import find_steps


def noisy(seed: int, runs: int = 40, noise: float = 0.05) -> np.ndarray:
    return 0.04 * (1 + noise * np.random.default_rng(seed).standard_normal(runs))


def test_flat_series_rarely_show_a_step():
    alarms = sum(bool(find_steps(noisy(seed))) for seed in range(200))
    assert alarms <= 6, f"{alarms} of 200 flat series showed a step (measured: 3)"


def test_a_20_percent_step_is_found_at_its_run_with_its_size():
    found = 0
    for seed in range(100):
        values = noisy(seed)
        values[20:] *= 1.2
        steps = [s for s in find_steps(values) if abs(s.index - 20) <= 1]
        found += bool(steps)
        for step in steps:
            assert step.low <= step.ratio <= step.high and 1.1 < step.ratio < 1.3
    assert found >= 95, f"found in {found} of 100 (measured: 98)"


def test_a_long_series_is_searched_fast_and_its_step_placed_exactly():
    values = noisy(0, runs=10_000, noise=0.03)
    values[6_000:] *= 1.2
    (step,) = find_steps(values)
    assert step.index == 6_000 and step.before == step.after == 200


def test_too_short_or_odd_series_have_no_steps():
    assert find_steps([1.0, 2.0, 3.0]) == [] and find_steps([0.0] * 10) == []
    assert find_steps([1.0] * 5 + [float("nan")] * 5) == []
