"""Repeated measurement through pytest-benchmark's pedantic mode, with the cold call kept apart.

Takes the `benchmark` fixture as an argument, so the library itself needs no pytest import.
"""

from __future__ import annotations

from collections.abc import Callable


def cold_then_rounds(benchmark, function: Callable[[], object], rounds: int):
    """Call `function` once (the cold start), then `rounds` times under pytest-benchmark.

    Returns (cold result, list of the timed rounds' results). pytest-benchmark times each
    round as a whole (its own JSON for --benchmark-save); `function` returns the detailed
    measurements (e.g. a GenerationTiming) that lmgauge records. With --benchmark-disable the
    rounds still run, untimed by pytest-benchmark, so lmgauge's report keeps its samples.
    """
    cold = function()
    if getattr(benchmark, "disabled", False):
        return cold, [function() for _ in range(rounds)]
    results = []
    benchmark.pedantic(
        lambda: results.append(function()), rounds=rounds, iterations=1, warmup_rounds=0
    )
    return cold, results
