"""The speed probe: a short fixed workload timed beside every timed round, so that a time can be
read relative to how fast the machine was at that moment.

On a shared machine the speed drifts by up to 1.5x within minutes. A round's time divided by
the probe's time beside it (the "normalised" time, in probe units) cancels drift that slows
both alike. The probe mixes the two kinds of work a model does: a matrix-vector product over
a 64 MiB float32 matrix (bound by memory reads, like a decode step) and a 512 x 512 matmul
(bound by arithmetic, like a prefill). One probe takes a few milliseconds on a 2-core CPU.

The probe must not share the code under test: a change that slows every torch operation (a
thread pool left at one thread, a slower BLAS, a torch upgrade) would slow a torch probe as
much as the model, and the verdict would normalise the regression away. So it runs in a
process of its own, started once per session with `python -I` (no PYTHONPATH, no user site,
no code of the checkout), in numpy (its own BLAS, its own thread pool) with a fixed thread
count from the environment it is given. The process reads one line per probe on its standard
input and ends when that closes, so it cannot outlive the run. `identity()` says what the
probe ran (numpy version, BLAS, threads): two runs whose probes differ are not normalised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field

MATRIX_ROWS, MATRIX_COLUMNS = 4096, 4096
GEMM_SIZE = 512
REPEATS = 5
SETTLE_S = 0.05
"""Pause before a probe: the run's own BLAS/OpenMP threads spin for a while after their work,
and a probe taken then measured their spinning (probes after a bench's last round were up to
2.5x slower than before its warmup)."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
QUIET_THREADS = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}
"""The probe's BLAS threads sleep as soon as a probe ends instead of spinning: with
OpenBLAS's default spin, a 1024 x 1024 torch matmul (2 threads) right after a probe took
26.6-27.8 ms against 13.8-15.8 ms without one (2-core VM, 2026-11-30), so the probe slowed
the work it stands beside; with the timeout at 2^4 cycles, 12.9-16.1 ms against 14.3-16.0."""
KIND = "numpy in its own process, fastest of 5"

WORKER = f"""
import json, os, statistics, sys, time
import numpy as np
rng = np.random.default_rng(0)
matrix = rng.random(({MATRIX_ROWS}, {MATRIX_COLUMNS}), dtype=np.float32)
vector = rng.random({MATRIX_COLUMNS}, dtype=np.float32)
square = rng.random(({GEMM_SIZE}, {GEMM_SIZE}), dtype=np.float32)
def once():
    started = time.perf_counter()
    matrix @ vector
    square @ square
    return time.perf_counter() - started
once()
try:
    from threadpoolctl import threadpool_info
    blas = sorted({{pool.get("internal_api", "?") for pool in threadpool_info()}})
except Exception:
    blas = []
facts = {{"numpy": np.__version__, "blas": blas, "torch_loaded": "torch" in sys.modules,
          "thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT")}}
print(json.dumps(facts), flush=True)
for line in sys.stdin:
    time.sleep({SETTLE_S})
    once()
    print(repr(min(once() for _ in range({REPEATS}))), flush=True)
"""


class ProbeError(RuntimeError):
    """The probe process could not start or stopped answering."""


@dataclass
class SpeedProbe:
    """`probe()` returns the fastest of REPEATS runs of the fixed workload (s) after a pause
    and one untimed run, measured in the probe's own process (the fastest: interference only
    ever slows a run, so the minimum is the machine's speed at that moment); `close()` ends
    that process (it also ends when this one does). threads: the BLAS threads the probe process
    uses (recorded in `identity()`)."""

    threads: int = 1
    _process: subprocess.Popen | None = field(default=None, repr=False)
    _facts: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            environment = {**os.environ, **QUIET_THREADS,
                           **{name: str(self.threads) for name in THREAD_VARIABLES}}  # fmt: skip
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", WORKER], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment,
            )  # fmt: skip
            self._facts = json.loads(self._read_line(self._process))
        return self._process

    @staticmethod
    def _read_line(process: subprocess.Popen) -> str:
        line = process.stdout.readline()
        if not line:
            raise ProbeError(
                f"the speed probe process ({sys.executable} -I with numpy) ended without an "
                f"answer (exit status {process.wait()})."
            )
        return line

    def probe(self) -> float:
        with self._lock:
            process = self._started()
            process.stdin.write("probe\n")
            process.stdin.flush()
            return float(self._read_line(process))

    def identity(self) -> dict:
        """What the probe runs: kind, numpy version, BLAS libraries, whether torch is loaded
        in its process (never), threads."""
        with self._lock:
            self._started()
            return {"kind": KIND, **self._facts, "threads": self.threads}

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.stdin.close()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                self._process = None
