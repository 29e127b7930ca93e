"""Wall-clock timing: perf_counter on the host, with the device synchronised first on CUDA."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lmgauge.compute import synchronizer

__all__ = ["Stopwatch", "kernel_seconds", "sample_seconds", "synchronizer", "timed_forward"]


@dataclass
class Stopwatch:
    """`with Stopwatch(device) as watch: ...` then `watch.seconds`: wall time of the block in s."""

    device: object = None
    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._sync = synchronizer(self.device)
        self._sync()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self._started


def sample_seconds(
    function: Callable[[], object],
    rounds: int,
    device=None,
    budget_s: float | None = None,
    min_rounds: int = 2,
) -> list[float]:
    """Wall time in seconds of `rounds` calls of `function`, one sample per call; with
    `budget_s`, no further call once the samples add up to budget_s, but never fewer than
    min(rounds, min_rounds) calls."""
    samples = []
    for _ in range(rounds):
        if budget_s is not None and len(samples) >= min_rounds and sum(samples) >= budget_s:
            break
        with Stopwatch(device) as watch:
            function()
        samples.append(watch.seconds)
    return samples


def kernel_seconds(
    function: Callable[[], object],
    rounds: int,
    device=None,
    gpu_iterations: int = 20,
    budget_s: float | None = None,
) -> list[float]:
    """Seconds per call of a short kernel, one sample per round, after one untimed call.

    On CUDA a sample is the CUDA-event time of `gpu_iterations` calls divided by their number
    (a single launch is too short for a host clock), the events recorded on `device`'s current
    stream (with --device cuda:1 the current device is still cuda:0 unless it is made current);
    on the CPU one call's wall time, and with `budget_s` fewer rounds (at least two) once
    they add up to budget_s seconds (sample_seconds)."""
    function()
    if getattr(device, "type", "cpu") != "cuda":
        return sample_seconds(function, rounds, device, budget_s)
    import torch

    samples = []
    with torch.cuda.device(device):
        for _ in range(rounds):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record(torch.cuda.current_stream(device))
            for _ in range(gpu_iterations):
                function()
            end.record(torch.cuda.current_stream(device))
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3 / gpu_iterations)
    return samples


def timed_forward(model, input_ids, attention_mask, device=None) -> float:
    """Wall time in seconds of one forward pass under torch.inference_mode()."""
    import torch

    with torch.inference_mode(), Stopwatch(device) as watch:
        model(input_ids=input_ids, attention_mask=attention_mask)
    return watch.seconds
