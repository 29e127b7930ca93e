"""A known slowdown, injected on purpose: the validation aid behind `lmgauge gate-check`.

`inject(model, fraction)` makes every forward pass of `model` take `fraction` longer than it
did: a hook times the pass and then busy-waits for `fraction` of that time. Busy-waiting (not
sleeping) keeps the CPU as occupied as real extra work would. Only `--inject-slowdown`
turns it on, and the run report's options say so.
"""

from __future__ import annotations

import time

from lmgauge.measure.timing import synchronizer


def inject(model, fraction: float, device=None):
    """Slow every forward pass of `model` by `fraction` of its own measured time; returns the
    hook handles (call `.remove()` on each to undo)."""
    sync = synchronizer(device)
    started: list[float] = []

    def before(module, args):
        sync()
        started.append(time.perf_counter())

    def after(module, args, output):
        sync()
        spent = time.perf_counter() - started.pop()
        until = time.perf_counter() + fraction * spent
        while time.perf_counter() < until:
            pass

    return [model.register_forward_pre_hook(before), model.register_forward_hook(after)]
