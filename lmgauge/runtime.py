"""Device, dtype and thread settings: the one place that turns option strings into torch values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


def default_threads() -> int:
    """Physical cores (logical cores where psutil cannot tell): the default torch thread count."""
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


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
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def synchronizer(device) -> Callable[[], None]:
    """A function that waits for queued work on `device` (a no-op on the CPU): call it before
    reading a host clock."""
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        return lambda: torch.cuda.synchronize(device)
    return lambda: None
