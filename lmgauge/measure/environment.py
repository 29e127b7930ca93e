"""The environment fingerprint written into every run report: what ran, on what, with what."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import psutil

from lmgauge.compute import usable_cpus

LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "datasets",
    "huggingface-hub",
    "peft",
    "scikit-learn",
    "numpy",
    "pandas",
    "pytest",
    "pytest-benchmark",
    "gguf",
)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo on Linux, else what `platform` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (runnable processes), or None where unsupported."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(folder: Path) -> dict:
    """The commit checked out in `folder` and whether the work tree has uncommitted changes."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def gpu() -> dict | None:
    """Name, memory (bytes) and compute capability of CUDA device 0, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    return {
        "name": properties.name,
        "memory_bytes": properties.total_memory,
        "capability": f"{properties.major}.{properties.minor}",
        "count": torch.cuda.device_count(),
        "cuda": torch.version.cuda,
    }


CACHE_FOLDER = Path("/sys/devices/system/cpu/cpu0/cache")
SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def cpu_caches(folder: Path = CACHE_FOLDER) -> dict[str, int]:
    """The data and unified caches of CPU 0 by name ("L1d", "L2", "L3"), in bytes, as Linux's
    sysfs lists them; {} where it does not (other systems, some containers)."""
    caches = {}
    for index in sorted(folder.glob("index*")):
        try:
            level, kind, size = (
                (index / name).read_text().strip() for name in ("level", "type", "size")
            )
        except OSError:
            continue
        if kind == "Instruction" or not size:
            continue
        number, unit = (size[:-1], size[-1]) if size[-1] in SIZE_UNITS else (size, "")
        name = f"L{level}" + ("d" if kind == "Data" else "")
        caches[name] = int(number) * SIZE_UNITS.get(unit, 1)
    return caches


def environment(project_folder: Path) -> dict:
    """The fingerprint of this machine and process. Units: bytes for memory, counts for cores."""
    import torch

    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_cores_logical": psutil.cpu_count(),
        "cpu_caches_bytes": cpu_caches(),
        "cpu_affinity": usable_cpus()["affinity"],
        "cpu_quota": usable_cpus()["quota"],
        "torch_threads": torch.get_num_threads(),
        "ram_bytes": psutil.virtual_memory().total,
        "gpu": gpu(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "libraries": library_versions(),
        "git": git_commit(project_folder),
    }
