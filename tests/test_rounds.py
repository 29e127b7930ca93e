"""Adaptive rounds: the warmup call apart, at least min_rounds, then stop on a narrow interval,
the budget or max_rounds; pytest-benchmark gets the same rounds."""

import numpy as np
import pytest

from lmgauge.measure.rounds import (
    RoundPolicy,
    median_interval,
    next_narrowing_round,
    order_index,
    percent,
    relative_half_width,
    run_rounds,
    stop_reason,
)


class FakeStats:
    def __init__(self):
        self.durations = []

    def update(self, duration):
        self.durations.append(duration)


class FakeBenchmark:
    disabled = False

    def __init__(self):
        self.stats = FakeStats()

    def _make_stats(self, iterations):
        return self.stats


def test_median_interval_has_95_percent_coverage_from_six_values_on():
    assert median_interval([5, 1, 4, 2, 3]) == (1, 5), "5 values: the whole range (93.75 %)"
    assert median_interval(range(1, 10)) == (2, 8), "9 values: x(2)..x(8), coverage 96.1 %"
    rng = np.random.default_rng(0)
    covered = sum(
        low <= 0 <= high for low, high in (median_interval(rng.normal(size=9)) for _ in range(4000))
    )
    assert 0.95 <= covered / 4000 <= 0.975


def test_steady_rounds_stop_at_the_minimum_and_the_warmup_is_kept_apart():
    calls = iter(range(100))
    benchmark = FakeBenchmark()
    measured = run_rounds(
        benchmark, lambda: 10.0 + next(calls) * 1e-4, RoundPolicy(min_rounds=5),
        judged=lambda values: {"x": values}, probe=lambda: 0.002,
    )  # fmt: skip
    assert measured.warmup == 10.0 and len(measured.results) == 5
    assert measured.results[0] == pytest.approx(10.0001)
    assert measured.probe_seconds == [0.002] * 2, "before the warmup, after the last round"
    assert "interval within" in measured.stopped
    assert len(benchmark.stats.durations) == 5


def test_noisy_rounds_run_on_until_max_rounds_or_the_budget():
    rng = np.random.default_rng(1)
    noisy = RoundPolicy(min_rounds=5, max_rounds=12, budget_s=60)
    measured = run_rounds(None, lambda: rng.uniform(1, 3), noisy, lambda v: {"x": v})
    assert len(measured.results) == 12 and "max_rounds 12" in measured.stopped
    no_budget = RoundPolicy(min_rounds=5, max_rounds=30, budget_s=0)
    measured = run_rounds(None, lambda: rng.uniform(1, 3), no_budget, lambda v: {"x": v})
    assert len(measured.results) == 5 and "budget 0 s for extra rounds spent" in measured.stopped


def test_relative_half_width_and_bad_policies():
    assert relative_half_width([1.0]) == float("inf")
    assert relative_half_width([0.9, 1.0, 1.0, 1.0, 1.1]) == pytest.approx(0.1)
    assert relative_half_width([-0.9, -1.0, -1.0, -1.0, -1.1]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="--rounds must be at least 1"):
        RoundPolicy(min_rounds=0)
    with pytest.raises(ValueError, match="--round-width must be a fraction above 0"):
        RoundPolicy(width=0)
    with pytest.raises(ValueError, match="--round-budget must be 0 s or more, got nan"):
        RoundPolicy(budget_s=float("nan"))
    many = run_rounds(None, iter(range(1, 100)).__next__, RoundPolicy(min_rounds=40),
                      lambda v: {"x": v})  # fmt: skip
    assert len(many.results) == 40
    assert many.stopped.startswith("the minimum of 40 rounds ran (max_rounds is 30)")


def test_rounds_stop_at_the_width_the_gate_needs_and_say_so():
    """Rounds spread ±8 % stop at the minimum under the gate's width (±11.1 % from gate.toml's
    latency spread 0.17) and run on to the budget under a fixed ±5 %."""
    from lmgauge.judge.gate import DEFAULT_RULES
    from lmgauge.judge.gate_rules import load_gate_rules, round_width

    width, reason = round_width(load_gate_rules(DEFAULT_RULES))
    assert width == pytest.approx(1.96 * 0.17 / 3, rel=1e-3)
    assert reason == "1.96 x a third of the gate's run-to-run spread of latencies, 0.17"
    values = [1.0, 0.92, 1.08, 0.95, 1.05] * 20

    def rounds(policy):
        calls = iter(values)
        return run_rounds(None, lambda: next(calls), policy, lambda v: {"x": v})

    gate_width = rounds(RoundPolicy(min_rounds=5, width=width, width_reason=reason))
    assert len(gate_width.results) == 5
    assert gate_width.stopped == (
        "interval within ±8.0 % after 5 rounds; target ±11.1 % (1.96 x a third of the gate's "
        "run-to-run spread of latencies, 0.17)"
    )
    fixed = rounds(RoundPolicy(min_rounds=5, max_rounds=12, budget_s=60, width=0.05))
    assert len(fixed.results) == 12 and "max_rounds 12" in fixed.stopped
    assert "target ±5.0 %" in fixed.stopped


def test_rules_without_a_latency_spread_keep_the_fixed_width(tmp_path):
    from lmgauge.judge.gate_rules import FALLBACK_ROUND_WIDTH, load_gate_rules, round_width

    rules = tmp_path / "gate.toml"
    rules.write_text('version = 6\n[[rule]]\nunits = ["s"]\nrelative = 0.25\ngated = true\n'
                     'reason = "latency"\n')  # fmt: skip
    width, reason = round_width(load_gate_rules(rules))
    assert width == FALLBACK_ROUND_WIDTH and "no run spread" in reason


def test_the_budget_is_for_rounds_beyond_the_minimum():
    """Slow rounds still get extra rounds: the minimum is not charged to the budget (gpt2-medium
    stopped at its minimum of 5 rounds with its interval at ±5.8 % before)."""
    import time

    rng = np.random.default_rng(1)

    def slow_round():
        time.sleep(0.02)
        return rng.uniform(1, 3)

    policy = RoundPolicy(min_rounds=8, max_rounds=30, budget_s=0.01)
    measured = run_rounds(None, slow_round, policy, lambda v: {"x": v})
    assert len(measured.results) == 9 and "(1 extra):" in measured.stopped


def test_rounds_that_cannot_narrow_the_interval_within_the_budget_are_not_run():
    """From 6 to 8 rounds the interval is the whole range, which a further round can only widen;
    the 9th drops one value at each end. gpt2-medium's 3.9 s rounds spent the 10 s budget on
    rounds 6-8 and stopped at the same width: they are not run now."""
    assert [next_narrowing_round(n) for n in (5, 8, 9, 12)] == [9, 9, 12, 15]
    assert [order_index(n) for n in (5, 8, 9, 12, 15)] == [1, 1, 2, 3, 4]
    policy = RoundPolicy(min_rounds=5, max_rounds=30, budget_s=10, width=0.111)
    wide = {"x": [1.0, 1.3, 1.0, 1.0, 1.0]}
    reason = stop_reason(policy, wide, spent_s=0.0, round_s=3.9)
    assert reason.startswith(
        "budget 10 s for extra rounds is projected to end before round 9, the first at which the "
        "interval can narrow (a round takes 3.9 s on average), so stopped after 5 rounds (0 "
        "extra): widest ±15.0 %"
    )
    # rounds 6-9 run when round 9 can start: the three before it end under the budget
    assert stop_reason(policy, wide, spent_s=0.0, round_s=3.0) == "", "3 x 3 s < 10 s: go on"
    assert "round 9" in stop_reason(policy, wide, spent_s=0.0, round_s=10 / 3 + 1e-9)
    assert "(a round takes 250 s on average)" in stop_reason(policy, wide, 0.0, round_s=250.0)
    nine = {"x": [1.0, 1.3, 1.0, 1.0, 1.0, 1.3, 0.7, 1.0, 1.0]}
    assert "end before round 12" in stop_reason(policy, nine, spent_s=8.0, round_s=2.0)
    assert stop_reason(policy, nine, spent_s=7.0, round_s=1.4) == "", "7 + 2 x 1.4 < 10"
    one = RoundPolicy(min_rounds=1, budget_s=10, width=0.111)
    assert stop_reason(one, {"x": [1.0]}, 0.0, round_s=5.0) == "", "a second value can meet it"
    capped = RoundPolicy(min_rounds=5, max_rounds=10, budget_s=60, width=0.111)
    assert stop_reason(capped, nine, spent_s=0.0, round_s=0.1).startswith(
        "stopped after 9 rounds: the interval cannot narrow before round 12, past max_rounds 10"
    )


def test_a_tiny_width_keeps_its_digits():
    assert (percent(0.111), percent(0.0004), percent(0.0)) == ("11.1", "0.040", "0.0")
    assert percent(3e-9) == "0.00000030", "two significant digits, never 3e-07"
    assert RoundPolicy(min_rounds=3, budget_s=1, width=0.00012).target() == "±0.012 %"


def test_rounds_that_judge_no_figure_are_refused():
    for judged in (lambda values: {}, lambda values: {"x": []}):
        with pytest.raises(ValueError, match="named no figure with values"):
            run_rounds(None, lambda: 1.0, RoundPolicy(min_rounds=2), judged)
