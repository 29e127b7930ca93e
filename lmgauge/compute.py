"""Where and how torch computes: device, dtype, threads and seeding, the one place that turns
option strings into torch values."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda", "cuda:N", "auto")


def resolve_device(name: str):
    """torch.device for "cpu", "cuda" (or "cuda:N"), or "auto" (cuda when available, else cpu)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"--device {name} is not a device torch knows; use one of {', '.join(DEVICES)}."
        ) from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name} is not supported; use one of {', '.join(DEVICES)}.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {name} was asked for but torch sees no CUDA device; use --device cpu "
            f"or auto."
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"--device {name} was asked for but torch sees {torch.cuda.device_count()} CUDA "
            f"device(s), numbered from 0."
        )
    return device


def resolve_dtype(name: str):
    """torch dtype for one of DTYPES."""
    import torch

    if name not in DTYPES:
        raise ValueError(f"--dtype {name} is not supported; use one of {', '.join(DTYPES)}.")
    return getattr(torch, name)


def dtype_name(dtype) -> str:
    """ "float32" for torch.float32: the name used in options and reports."""
    return str(dtype).removeprefix("torch.")


CGROUP_V2_LIMIT = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_LIMIT = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                   Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))  # fmt: skip


def cpu_quota(v2: Path = CGROUP_V2_LIMIT, v1: tuple[Path, Path] = CGROUP_V1_LIMIT) -> float | None:
    """The CPUs this process's cgroup may use (quota / period: 1.5 = one and a half CPUs), or
    None when no quota is set or it cannot be read (not Linux, no cgroup files)."""
    try:
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota, period = (int(path.read_text()) for path in v1)
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cpus() -> dict:
    """What bounds the threads this process can use: `affinity` (CPUs it may run on, from
    sched_getaffinity, as taskset sets it; None where unknown), `quota` (cgroup CPU quota in
    CPUs, as a container's --cpus sets it; None when unlimited)."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"affinity": affinity, "quota": cpu_quota()}


def default_threads() -> int:
    """The default torch thread count: physical cores (logical where psutil cannot tell), but no
    more than the CPUs this process may run on (affinity) and its cgroup quota (rounded down,
    at least 1): on `taskset -c 0` or a container limited to one CPU, one thread."""
    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    usable = usable_cpus()
    limits = [cores, usable["affinity"] or cores, math.floor(usable["quota"] or cores)]
    return max(1, min(limits))


def set_threads(count: int) -> int:
    """Set torch's intra-op thread count and return the count torch reports afterwards."""
    import torch

    if count < 1:
        raise ValueError(f"--threads must be at least 1, got {count}.")
    torch.set_num_threads(count)
    return torch.get_num_threads()


@contextmanager
def seeded(seed: int, device=None) -> Iterator[None]:
    """Inside the block torch's CPU generator, and the generator of `device` when it is a CUDA
    device, start from `seed`; after it they are back where they were, so that a seeded helper
    never reseeds its caller's generators (nor another GPU's)."""
    import torch

    device = torch.device(device) if device is not None else torch.device("cpu")
    cuda = cuda_indices(device)
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def cuda_indices(device) -> list[int]:
    """The CUDA devices `device` stands for: its index, or every visible GPU for a device
    without one (`cuda`, as a model spread by device_map="auto" is run); [] off CUDA."""
    if getattr(device, "type", "cpu") != "cuda":
        return []
    import torch

    if device.index is not None:
        return [device.index]
    return list(range(torch.cuda.device_count()))


def synchronizer(device) -> Callable[[], None]:
    """A function that waits for queued work on `device` (every GPU it stands for, see
    cuda_indices; a no-op on the CPU): call it before reading a host clock."""
    indices = cuda_indices(device)
    if not indices:
        return lambda: None
    import torch

    def synchronize() -> None:
        for index in indices:
            torch.cuda.synchronize(index)

    return synchronize
