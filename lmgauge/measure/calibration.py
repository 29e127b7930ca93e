"""In-session calibration of the device: the memory-read roof and the prefill-shaped compute roof.

These are the roofs of the roofline, each shaped like the work it bounds:
- memory: decode at small batch reads every weight once, so its roof is the best rate of the
  read kernels (`sum`, `amax`, and PyTorch's matrix-vector product `mv`, the kernel a batch-1
  decode step runs) over a working set well beyond the last-level cache (at least 256 MiB and
  four times the largest CPU cache: a 300 MiB L3 held most of a 256 MiB tensor, and the "roof"
  came out below what `mv` reached in the same calibration). The roof is never below any read
  kernel of the same calibration; `mv`'s own rate is recorded beside it.
- compute: prefill runs matmuls of (prompt tokens x hidden) by (hidden x wider), so its roof is
  the best FLOP/s of matmuls of those shapes (`PREFILL_SHAPES`: the MLP matmuls of GPT-2 small,
  GPT-2 medium and SmolLM2 at 128 tokens, the quick tier's longest prompt, and at 1024 tokens,
  the longest forward any bench runs: on this 2-core EPYC, 1024-row matmuls reached 157-174
  GFLOP/s against 140-143 at 128 rows, and a roof from 128 rows alone let the slow tier's
  1024-position steps run "1.29x faster than their bound"; larger shapes on a GPU).
Each is the best of several rounds (a roof is what the machine can reach: READ_ROUNDS passes of
each read kernel, `rounds` of each matmul), measured with the device, dtype and thread count of
the run. On CUDA each sample is CUDA-event time over many iterations of the kernel. The compute
roof's matmuls have a projected time budget (MATMUL_BUDGET_S): a dtype the CPU has no native
instructions for measures fewer rounds of fewer shapes, and the calibration records the shapes
it measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lmgauge.compute import dtype_name
from lmgauge.measure.timing import kernel_seconds

READ_KERNELS = ("sum", "amax")
READ_ROUNDS = 3
"""Timed passes of each read kernel (after its untimed one). Each pass streams the whole working
set, 1.9 GiB on the Xeon, and passes agree within about 1 %: over four calibrations at one and
two threads on the 2-core Xeon (2026-12-02), the best of the first three passes was within
0.0-0.8 % of the best of seven (mv, the winner there, 0.0-0.3 %), and seven passes of three
kernels cost 3.2 s of a one-thread session's 5.5 s calibration."""
MLP_SHAPES = ((768, 3072), (1024, 4096), (576, 1536), (3072, 768))
PREFILL_SHAPES = tuple((tokens, k, n) for tokens in (128, 1024) for k, n in MLP_SHAPES)
GPU_PREFILL_SHAPES = ((2048, 4096, 16384), (2048, 4096, 4096), (512, 4096, 4096))
MATMUL_BUDGET_S = 10.0
"""Seconds the compute roof's matmuls may be projected to take: the first prefill shape is
timed (at most FIRST_SHAPE_BUDGET_S of rounds, at least two), and a further shape is measured
only when its rounds, at the best FLOP/s so far, fit in what is left. Float32 takes 1.8-2.8 s
on the 2-core VMs (two and one threads), twice that when busy, so every shape is measured;
bfloat16 on the AMD EPYC (no AVX-512 BF16, so torch emulates it: a 512x1024x1024 product took
1.14 s against 13 ms in float32) is projected at minutes, and had spent 160 s on one
calibration: now it measures the first shape and what fits (8-12 s), and the report's
`matmul_shapes_measured` says which.
The decision rests on a factor of about 50 between the two, not on a wall clock that a busy
machine moves."""
FIRST_SHAPE_BUDGET_S = 2.0


@dataclass(frozen=True)
class Calibration:
    """bandwidth_bytes_per_s: bytes read per second by the best read kernel (`bandwidth_kernel`:
    sum, amax or mv) over `read_bytes`; read_samples_s: seconds per call of each read kernel
    (mv included); mv_bandwidth_bytes_per_s: matrix bytes read per second by torch.mv over a
    matrix of `read_bytes`; matmul_flops_per_s: FLOP/s (2 m k n per product) of the best matmul of
    `matmul_shape` (m, k, n) among the prefill shapes; matmul_samples_s: its seconds;
    matmul_shapes_measured: the prefill shapes measured within MATMUL_BUDGET_S (all of them
    unless the dtype is slow on this device)."""

    device: str
    dtype: str
    threads: int
    bandwidth_bytes_per_s: float
    bandwidth_kernel: str
    read_bytes: int
    read_samples_s: dict
    mv_bandwidth_bytes_per_s: float
    mv_samples_s: list
    matmul_flops_per_s: float
    matmul_shape: tuple
    matmul_samples_s: list
    matmul_shapes_measured: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


MIN_READ_MIB = 256
CACHE_MULTIPLE = 4
"""The read working set is at least this many times the largest CPU cache."""


def read_working_set_mib(device, caches: dict[str, int]) -> int:
    """MiB the memory roof reads: MIN_READ_MIB, or CACHE_MULTIPLE x the largest CPU cache on
    the CPU when that is more (a GPU's own cache is far smaller than MIN_READ_MIB)."""
    if getattr(device, "type", "cpu") == "cuda" or not caches:
        return MIN_READ_MIB
    return max(MIN_READ_MIB, -(-CACHE_MULTIPLE * max(caches.values()) // 2**20))


def calibrate(device, dtype, rounds: int = 7, read_mib: int | None = None) -> Calibration:
    """Measure the memory-read roof, torch.mv's bandwidth and the prefill-shaped matmul roof;
    `read_mib` defaults to read_working_set_mib of this machine."""
    import torch

    from lmgauge.measure.environment import cpu_caches

    read_mib = read_mib or read_working_set_mib(device, cpu_caches())
    read, mv, nbytes = _read_seconds(read_mib, device, dtype, min(rounds, READ_ROUNDS))
    read = {**read, "mv": mv}
    kernel = min(read, key=lambda name: min(read[name]))
    best = None
    shapes = GPU_PREFILL_SHAPES if device.type == "cuda" else PREFILL_SHAPES
    measured = []
    left_s = MATMUL_BUDGET_S
    for m, k, n in shapes:
        if best and rounds * 2 * m * k * n / best[0] > left_s:
            continue
        budget = None if best else FIRST_SHAPE_BUDGET_S
        samples = _matmul_seconds(m, k, n, device, dtype, rounds, budget)
        left_s -= sum(samples)
        measured.append((m, k, n))
        flops = 2 * m * k * n / min(samples)
        if best is None or flops > best[0]:
            best = (flops, (m, k, n), samples)
    return Calibration(
        device=str(device),
        dtype=dtype_name(dtype),
        threads=torch.get_num_threads(),
        bandwidth_bytes_per_s=nbytes / min(read[kernel]),
        bandwidth_kernel=kernel,
        read_bytes=nbytes,
        read_samples_s=read,
        mv_bandwidth_bytes_per_s=nbytes / min(mv),
        mv_samples_s=mv,
        matmul_flops_per_s=best[0],
        matmul_shape=best[1],
        matmul_samples_s=best[2],
        matmul_shapes_measured=measured,
    )


def remeasure_roofs(first: Calibration, device, dtype) -> dict:
    """The two roofs again, each with the kernel that set it in `first` (its best read kernel
    over the same bytes, its best prefill shape) and as many rounds as `first` took of it: what
    a drift check compares, at 40 % of a full calibration's cost (1.5 s against 3.7 s at one
    thread on the 2-core Xeon, most of it writing the working set once). Returns
    bandwidth_bytes_per_s, matmul_flops_per_s, and the kernel and shape measured."""
    data = _read_tensor(first.read_bytes // 2**20, device, dtype)
    read_rounds = len(first.read_samples_s[first.bandwidth_kernel])
    read = kernel_seconds(_read_kernel(first.bandwidth_kernel, data), read_rounds, device)
    m, k, n = first.matmul_shape
    matmul = _matmul_seconds(m, k, n, device, dtype, len(first.matmul_samples_s), None)
    return {
        "bandwidth_bytes_per_s": first.read_bytes / min(read),
        "matmul_flops_per_s": 2 * m * k * n / min(matmul),
        "bandwidth_kernel": first.bandwidth_kernel,
        "matmul_shape": [m, k, n],
    }


def _read_tensor(mib: int, device, dtype):
    import torch

    return torch.ones(mib * 1024 * 1024 // dtype.itemsize, dtype=dtype, device=device)


def _read_kernel(name: str, data):
    """A call that reads every byte of `data` once: torch.sum or torch.amax over it, or
    torch.mv of it as a matrix of 4096 columns."""
    import torch

    if name == "mv":
        matrix = data.view(-1, 4096)
        vector = torch.ones(4096, dtype=data.dtype, device=data.device)
        return lambda: torch.mv(matrix, vector)
    kernel = getattr(torch, name)
    return lambda: kernel(data)


def _read_seconds(mib: int, device, dtype, rounds: int) -> tuple[dict, list, int]:
    """Seconds per call of each read-only kernel over a `mib` MiB tensor, of torch.mv over the
    same bytes as a matrix of 4096 columns, and the bytes each reads."""
    data = _read_tensor(mib, device, dtype)
    read = {name: kernel_seconds(_read_kernel(name, data), rounds, device) for name in READ_KERNELS}
    mv = kernel_seconds(_read_kernel("mv", data), rounds, device)
    return read, mv, data.numel() * dtype.itemsize


def _matmul_seconds(
    m: int, k: int, n: int, device, dtype, rounds: int, budget_s: float | None
) -> list[float]:
    import torch

    left = torch.randn(m, k, device=device).to(dtype)
    right = torch.randn(k, n, device=device).to(dtype)
    with torch.inference_mode():
        return kernel_seconds(lambda: left @ right, rounds, device, budget_s=budget_s)
