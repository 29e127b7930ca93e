"""Timed rounds that adapt, the way pyperf and pytest-benchmark do, with the warmup call kept apart.

One untimed warmup call first, then timed rounds: at least `min_rounds`, then more until the
95 % interval of the median of every judged figure is within `width` of that median (relative
half-width), or the round `budget_s` is spent, or `max_rounds` is reached. The pytest plugin
takes `width` from the gate's run-to-run spread of latencies (lmgauge.judge.gate_rules.round_width):
rounds beyond what the gate can use are not run. The result says
which of these stopped it. The speed probe (lmgauge.measure.probe) is timed before the warmup
call and after the last round: beside the measurement, never between two timed rounds, where
its own memory traffic would evict what the next round had in cache.

The interval is distribution-free: order statistics x(k) .. x(n-k+1) with the largest k whose
binomial coverage is at least 95 %; such an interval exists from 6 rounds on, so with 5 rounds
the stop test uses the whole range (coverage 93.75 %). While k stays the same a further round
can only move the interval's ends outward (k steps up at 9, 12, 15, 17, 20, ... rounds), so
rounds that the budget (or max_rounds) would stop before the next step are not run: they could
bring the interval within the target only by raising the median it is relative to, never by
narrowing it.

Takes pytest-benchmark's `benchmark` fixture as an argument, so the library needs no pytest
import; each round's wall time is handed to pytest-benchmark's statistics so that
--benchmark-save stores the same rounds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class RoundPolicy:
    """min_rounds: fewest timed rounds; max_rounds: most (never fewer than min_rounds);
    budget_s: seconds that rounds beyond min_rounds may take (counted from the end of the
    min_rounds-th round: the minimum is never charged to it) (s); width: target relative
    half-width of the median's 95 % interval (0.05 = the median is known within ±5 %);
    width_reason: where `width` came from, in words (quoted in each stop reason)."""

    min_rounds: int = 5
    max_rounds: int = 30
    budget_s: float = 10.0
    width: float = 0.05
    width_reason: str = ""

    def __post_init__(self):
        if self.min_rounds < 1:
            raise ValueError(f"--rounds must be at least 1, got {self.min_rounds}.")
        if not self.budget_s >= 0:  # also refuses nan, which no budget check would ever stop
            raise ValueError(f"--round-budget must be 0 s or more, got {self.budget_s}.")
        if not 0 < self.width < 1:
            raise ValueError(
                f"--round-width must be a fraction above 0 and below 1, got {self.width}."
            )

    def target(self) -> str:
        """The interval target in words: "±11.1 % (--round-width)"."""
        reason = f" ({self.width_reason})" if self.width_reason else ""
        return f"±{percent(self.width)} %{reason}"


@dataclass
class Rounds:
    """warmup: the warmup call's result; results: each timed round's result; probe_seconds:
    the speed probe before the warmup and after the last round (s); round_seconds: each round's
    wall time (s);
    stopped: why no further round ran."""

    warmup: object
    results: list
    probe_seconds: list
    round_seconds: list
    stopped: str


def percent(fraction: float) -> str:
    """A fraction as a percentage with one decimal, or two significant digits below 0.1 %."""
    value = 100 * fraction
    if 0 < value < 0.1:
        return f"{value:.{1 - math.floor(math.log10(value))}f}"
    return f"{value:.1f}"


def order_index(n: int) -> int:
    """k of the median's interval over n values: the largest k whose coverage
    1 - 2 * P(Binomial(n, 1/2) < k) is at least 95 % (1, the whole range, below 9 values)."""
    k = 1
    while k < n // 2 and 1 - 2 * stats.binom.cdf(k, n, 0.5) >= CONFIDENCE:
        k += 1
    return k


def next_narrowing_round(count: int) -> int:
    """The first round count above `count` whose interval drops one more value at each end
    (order_index grows): before it a further round cannot move the interval's ends inward."""
    later = count + 1
    while order_index(later) == order_index(count):
        later += 1
    return later


def median_interval(values) -> tuple[float, float]:
    """Distribution-free interval of the median: (x(k), x(n-k+1)), k = order_index(n)."""
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    k = order_index(n)
    return float(ordered[k - 1]), float(ordered[n - k])


def relative_half_width(values) -> float:
    """Half the median's interval divided by the median's size (inf for fewer than 2 values
    or a median of 0)."""
    if len(values) < 2:
        return float("inf")
    low, high = median_interval(values)
    median = float(np.median(values))
    return (high - low) / 2 / abs(median) if median else float("inf")


def stop_reason(
    policy: RoundPolicy, judged: dict[str, list], spent_s: float, round_s: float = 0.0
) -> str:
    """Why the rounds should stop now, or "" to run another. spent_s: seconds spent on rounds
    beyond the minimum so far; round_s: a round's mean wall time so far (s), which projects
    whether the budget lasts to the next round at which the interval can narrow."""
    count = len(next(iter(judged.values()), []))
    if count < policy.min_rounds:
        return ""
    widths = {name: relative_half_width(values) for name, values in judged.items()}
    widest = max(widths.values(), default=0.0)
    short = f"widest ±{percent(widest)} %, target {policy.target()}"
    done = f"{count} round{'s' * (count != 1)}"
    if widest <= policy.width:
        return f"interval within ±{percent(widest)} % after {done}; target {policy.target()}"
    most = max(policy.max_rounds, policy.min_rounds)
    if count >= most:
        if policy.min_rounds > policy.max_rounds:
            return f"the minimum of {done} ran (max_rounds is {policy.max_rounds}): {short}"
        return f"max_rounds {most} reached: {short}"
    extra = count - policy.min_rounds
    if spent_s >= policy.budget_s:
        return (f"budget {policy.budget_s:g} s for extra rounds spent after {done} "
                f"({extra} extra): {short}")  # fmt: skip
    if count < 2:  # one value has no interval: the second gives it one
        return ""
    narrowing = next_narrowing_round(count)
    if narrowing > most:
        return (f"stopped after {done}: the interval cannot narrow before round {narrowing}, "
                f"past max_rounds {most}: {short}")  # fmt: skip
    # the budget lets a round start while spent_s < budget_s: the last of them may overshoot
    if spent_s + (narrowing - count - 1) * round_s >= policy.budget_s:
        return (
            f"budget {policy.budget_s:g} s for extra rounds is projected to end before round "
            f"{narrowing}, the first at which the interval can narrow (a round takes "
            f"{round_s:.3g} s on average), so stopped after {done} ({extra} extra): {short}"
        )
    return ""


def run_rounds(
    benchmark,
    function: Callable[[], object],
    policy: RoundPolicy,
    judged: Callable[[list], dict[str, list]],
    probe: Callable[[], float] | None = None,
    warmup: Callable[[], object] | None = None,
) -> Rounds:
    """Warmup call, then adaptive timed rounds of `function`.

    judged(results) -> {figure: per-round values} names the figures whose intervals decide
    when to stop (e.g. time to first token and the median decode step of each round).
    warmup: a shorter call that runs the same code paths (default: `function` itself).
    """
    probes = [probe()] if probe is not None else []
    warmup = (warmup or function)()
    results, walls = [], []
    stopped = ""
    while not stopped:
        round_started = time.perf_counter()
        results.append(function())
        walls.append(time.perf_counter() - round_started)
        extra_s = sum(walls[policy.min_rounds :])
        figures = judged(results)
        if not figures or not all(figures.values()):
            raise ValueError("judged(results) named no figure with values, so the rounds could "
                             "never stop")  # fmt: skip
        stopped = stop_reason(policy, figures, extra_s, sum(walls) / len(walls))
    if probe is not None:
        probes.append(probe())
    feed_pytest_benchmark(benchmark, walls)
    return Rounds(warmup, results, probes, walls, stopped)


def feed_pytest_benchmark(benchmark, round_seconds: list[float]) -> None:
    """Give pytest-benchmark the timed rounds, as pedantic mode would have timed them.

    pytest-benchmark's pedantic mode needs the round count up front; adaptive rounds do not know
    it, so each round's wall time goes into the fixture's statistics directly (its
    `_make_stats`, stable since pytest-benchmark 3). Nothing happens when the fixture is
    disabled (--benchmark-disable) or absent."""
    if benchmark is None:
        return
    benchmark._mode = "lmgauge adaptive rounds"
    if getattr(benchmark, "disabled", False):
        return
    statistics = benchmark._make_stats(1)
    for seconds in round_seconds:
        statistics.update(seconds)
