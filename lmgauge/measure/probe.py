"""The speed probe: a short fixed workload timed beside every timed round, so that a time can be
read relative to how fast the machine was at that moment.

On a shared machine the speed drifts by up to 1.5x within minutes. A round's time divided by
the probe's time beside it (the "normalised" time, in probe units) cancels drift that slows
both alike. The probe mixes the two kinds of work a model does: a matrix-vector product over
a 64 MiB float32 matrix (bound by memory reads, like a decode step) and a 512 x 512 matmul
(bound by arithmetic, like a prefill). One probe takes a few milliseconds on a 2-core CPU.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from lmgauge.measure.timing import sample_seconds

MATRIX_ROWS, MATRIX_COLUMNS = 4096, 4096
GEMM_SIZE = 512
REPEATS = 3


@dataclass
class SpeedProbe:
    """`probe()` returns the median time of REPEATS runs of the fixed workload (s)."""

    device: object = None
    _tensors: tuple = field(default=(), repr=False)

    def _workload(self):
        import torch

        if not self._tensors:
            generator = torch.Generator().manual_seed(0)
            matrix = torch.rand(MATRIX_ROWS, MATRIX_COLUMNS, generator=generator)
            vector = torch.rand(MATRIX_COLUMNS, generator=generator)
            square = torch.rand(GEMM_SIZE, GEMM_SIZE, generator=generator)
            self._tensors = tuple(t.to(self.device or "cpu") for t in (matrix, vector, square))
        matrix, vector, square = self._tensors

        def run():
            with torch.inference_mode():
                torch.mv(matrix, vector)
                square @ square

        return run

    def probe(self) -> float:
        return statistics.median(sample_seconds(self._workload(), REPEATS, self.device))
