"""Is the machine quiet? CPU time used by other processes while a bench ran, and load averages.

The load average counts this process too, so it cannot tell a busy machine from a busy bench;
the CPU time the whole system spent minus the time this process (and its children) spent can.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from lmgauge.measure.environment import load_average

BUSY_LIMIT_CORES = 0.25
"""A bench during which other processes kept more than this many cores busy is flagged `busy`."""
SHORTEST_JUDGED_S = 1.0
"""CPU times tick in 10 ms steps, so blocks shorter than this are not judged (busy is False)."""


@dataclass(frozen=True)
class NoiseReading:
    """foreign_cores: average cores other processes kept busy during the block (cores)."""

    load_average_before: list | None
    load_average_after: list | None
    foreign_cores: float
    wall_s: float

    @property
    def busy(self) -> bool:
        return self.wall_s >= SHORTEST_JUDGED_S and self.foreign_cores > BUSY_LIMIT_CORES


def _busy_seconds() -> tuple[float, float]:
    system = psutil.cpu_times()
    idle = system.idle + getattr(system, "iowait", 0.0)
    mine = psutil.Process().cpu_times()
    own = mine.user + mine.system + mine.children_user + mine.children_system
    return sum(system) - idle, own


class NoiseMonitor:
    """`start()` before a bench; `stop()` (any number of times) gives the NoiseReading so far."""

    def start(self) -> None:
        self._load_before = load_average()
        self._wall = time.perf_counter()
        self._system, self._own = _busy_seconds()

    def stop(self, min_window_s: float = 0.0) -> NoiseReading:
        """The reading since start(). A block shorter than `min_window_s` is followed by a
        wait until that much time has passed, so that it can be judged at all: other processes
        are what is measured, and they run on while this one waits."""
        if min_window_s > 0:
            remaining = min_window_s - (time.perf_counter() - self._wall)
            if remaining > 0:
                time.sleep(remaining)
        system, own = _busy_seconds()
        wall = time.perf_counter() - self._wall
        foreign = max(0.0, (system - self._system) - (own - self._own))
        return NoiseReading(
            load_average_before=self._load_before,
            load_average_after=load_average(),
            foreign_cores=foreign / wall if wall > 0 else 0.0,
            wall_s=wall,
        )
