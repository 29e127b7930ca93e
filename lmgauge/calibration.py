"""In-session calibration of the device: memory bandwidth and matrix-multiply throughput.

These two numbers are the roofs of the roofline: decode at small batch cannot beat reading
its weights at `bandwidth`, prefill cannot beat its FLOPs at `matmul_flops`. Both are measured
with the device, dtype and thread count of the run, taking the best of several rounds (a roof
is what the machine can reach).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lmgauge.measure.timing import sample_seconds
from lmgauge.runtime import dtype_name


@dataclass(frozen=True)
class Calibration:
    """bandwidth_bytes_per_s: bytes read plus written per second by a large tensor copy.
    matmul_flops_per_s: floating-point operations per second of an n x n matmul (2 n^3 each)."""

    device: str
    dtype: str
    threads: int
    bandwidth_bytes_per_s: float
    bandwidth_samples_s: list
    copy_bytes: int
    matmul_flops_per_s: float
    matmul_samples_s: list
    matmul_size: int

    def to_dict(self) -> dict:
        return asdict(self)


def calibrate(device, dtype, rounds: int = 7, copy_mib: int = 256) -> Calibration:
    """Measure copy bandwidth and matmul FLOP/s on `device` in `dtype`.

    The matmul is timed at two sizes (1024 and 2048 on a CPU, 4096 and 8192 on a GPU) and the
    faster size is kept: small sizes do not reach the roof on every machine.
    """
    import torch

    copy, moved = _copy_seconds(copy_mib, device, dtype, rounds)

    best = None
    for size in (4096, 8192) if device.type == "cuda" else (1024, 2048):
        samples = _matmul_seconds(size, device, dtype, rounds)
        if best is None or 2 * size**3 / min(samples) > 2 * best[0] ** 3 / min(best[1]):
            best = (size, samples)
    size, matmul = best
    return Calibration(
        device=str(device),
        dtype=dtype_name(dtype),
        threads=torch.get_num_threads(),
        bandwidth_bytes_per_s=moved / min(copy),
        bandwidth_samples_s=copy,
        copy_bytes=moved,
        matmul_flops_per_s=2 * size**3 / min(matmul),
        matmul_samples_s=matmul,
        matmul_size=size,
    )


def _matmul_seconds(size: int, device, dtype, rounds: int) -> list[float]:
    import torch

    left = torch.randn(size, size, device=device).to(dtype)
    right = torch.randn(size, size, device=device).to(dtype)
    with torch.inference_mode():
        left @ right
        return sample_seconds(lambda: left @ right, rounds, device)


def _copy_seconds(mib: int, device, dtype, rounds: int) -> tuple[list[float], int]:
    """Seconds per copy of a `mib` MiB tensor, and the bytes each copy reads plus writes."""
    import torch

    elements = mib * 1024 * 1024 // dtype.itemsize
    source = torch.ones(elements, dtype=dtype, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    return sample_seconds(
        lambda: target.copy_(source), rounds, device
    ), 2 * elements * dtype.itemsize
