"""Peak memory of a block of code: process RSS on the host, allocator peaks on CUDA.

On Linux the kernel's high-water mark (VmHWM in /proc/self/status) is reset by writing 5 to
/proc/self/clear_refs, so the peak is exact for the block. Elsewhere psutil gives RSS only at
the block's start and end, and the peak is their maximum: a lower bound (method "endpoints").
tracemalloc is no use here: it does not see torch's allocations.

Freed memory stays in the C heap and is reused, so a block that allocates what an earlier call
freed shows no growth. Before each block the tracker runs the garbage collector and, on glibc,
`malloc_trim(0)`, which hands free heap pages back to the kernel: the block's growth is then
what it really allocates (activations, logits, caches).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from lmgauge.compute import cuda_indices, synchronizer

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class MemoryReading:
    """Memory around one block, in bytes. cuda_* are None off CUDA; on a model spread over
    several GPUs (a device without an index) they are sums over the GPUs (peaks per GPU added:
    an upper bound of the joint peak).

    peak_growth_bytes: how far resident memory rose above its level at the block's start.
    cuda_peak_growth_bytes: how far the CUDA allocator's allocated bytes rose above theirs.
    """

    rss_before_bytes: int
    rss_after_bytes: int
    peak_rss_bytes: int
    method: str
    cuda_allocated_before_bytes: int | None = None
    cuda_peak_allocated_bytes: int | None = None
    cuda_peak_reserved_bytes: int | None = None

    @property
    def peak_growth_bytes(self) -> int:
        return self.peak_rss_bytes - self.rss_before_bytes

    @property
    def cuda_peak_growth_bytes(self) -> int | None:
        if self.cuda_peak_allocated_bytes is None:
            return None
        return self.cuda_peak_allocated_bytes - self.cuda_allocated_before_bytes

    @property
    def device_peak_growth_bytes(self) -> int:
        """The growth of the memory the work ran in: CUDA allocated bytes on a GPU, resident
        memory on the host otherwise."""
        growth = self.cuda_peak_growth_bytes
        return self.peak_growth_bytes if growth is None else growth

    @property
    def device_memory_kind(self) -> str:
        """Which memory device_peak_growth_bytes is: "cuda-allocated" or "rss"."""
        return "rss" if self.cuda_peak_allocated_bytes is None else "cuda-allocated"


def process_status() -> dict[str, int] | None:
    """VmRSS and VmHWM of this process in bytes, or None without /proc."""
    try:
        text = STATUS.read_text()
    except OSError:
        return None
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M))
    return {key: int(value) * 1024 for key, value in found.items()} if found else None


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS; False where unsupported."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@functools.cache
def _glibc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def release_free_heap() -> bool:
    """Collect garbage and give free C-heap pages back to the kernel (glibc only)."""
    gc.collect()
    libc = _glibc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    return True


def current_rss() -> int:
    status = process_status()
    return status["VmRSS"] if status else psutil.Process().memory_info().rss


class _Tracker:
    reading: MemoryReading | None = None


@contextmanager
def track_memory(device=None):
    """`with track_memory(device) as tracker: ...` then `tracker.reading` (a MemoryReading)."""
    tracker = _Tracker()
    gpus = cuda_indices(device)
    cuda = bool(gpus)
    sync = synchronizer(device)
    if cuda:
        import torch

        sync()
        for index in gpus:
            torch.cuda.reset_peak_memory_stats(index)
        allocated_before = sum(torch.cuda.memory_allocated(index) for index in gpus)
    release_free_heap()
    exact = reset_peak_rss() and process_status() is not None
    before = current_rss()
    yield tracker
    sync()
    after = current_rss()
    peak = process_status()["VmHWM"] if exact else max(before, after)
    tracker.reading = MemoryReading(
        rss_before_bytes=before,
        rss_after_bytes=after,
        peak_rss_bytes=max(peak, after),
        method="vmhwm" if exact else "endpoints",
        cuda_allocated_before_bytes=allocated_before if cuda else None,
        cuda_peak_allocated_bytes=(
            sum(torch.cuda.max_memory_allocated(index) for index in gpus) if cuda else None
        ),
        cuda_peak_reserved_bytes=(
            sum(torch.cuda.max_memory_reserved(index) for index in gpus) if cuda else None
        ),
    )


def cache_bytes(cache) -> int:
    """Bytes held by a transformers KV cache (DynamicCache layers, or legacy tuples)."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        tensors = [t for layer in layers for t in (layer.keys, layer.values) if t is not None]
    else:
        tensors = [t for pair in cache for t in pair]
    return sum(t.numel() * t.element_size() for t in tensors)
