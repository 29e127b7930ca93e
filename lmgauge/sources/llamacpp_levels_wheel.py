"""`python -m lmgauge.sources.llamacpp_levels_wheel`: put llama-cpp-python built with every CPU
level (lmgauge.sources.llamacpp_kernels) in place of the installed build, building its wheel
once per version into lmgauge's cache (about 15 minutes on 2 cores). `./dev` runs it when it
installs the llamacpp or serve extra. pip's own build compiles llama.cpp for the CPU of the
machine that built it and caches that wheel by version only, so on a machine whose CPU changes
(a VM moved to another host) a cached build can die of an illegal instruction. When the build
cannot be made, pip's build stays, and this says why in one sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from lmgauge.sources.llamacpp_kernels import VARIANTS_CMAKE_ARGS, cpu_variants


def wheel_folder(version: str) -> Path:
    """Where the wheel of `version` built with every CPU level is kept."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lmgauge" / "wheels" / f"llama-cpp-python-{version}-every-cpu-level"


def build_wheel(version: str, folder: Path) -> Path:
    """Build the wheel into `folder` (through a .partial folder, so that a killed build leaves
    nothing that looks finished); the wheel's path."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"lmgauge: building llama.cpp (llama-cpp-python {version}) with every CPU level, once, "
          f"into {folder} (about 15 minutes on 2 cores)", file=sys.stderr)  # fmt: skip
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q",
                    "--disable-pip-version-check", f"llama-cpp-python=={version}", "-w",
                    str(partial)], env={**os.environ, "CMAKE_ARGS": VARIANTS_CMAKE_ARGS},
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    partial.rename(folder)
    return next(folder.glob("*.whl"))


def main() -> int:
    try:
        if cpu_variants():
            return 0
        version = metadata.version("llama_cpp_python")
    except (ImportError, metadata.PackageNotFoundError):
        print("lmgauge: llama-cpp-python is not installed; nothing to rebuild", file=sys.stderr)
        return 0
    folder = wheel_folder(version)
    try:
        wheel = next(folder.glob("*.whl"), None) or build_wheel(version, folder)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--force-reinstall", "--disable-pip-version-check", str(wheel)],
                       check=True)  # fmt: skip
    except (subprocess.CalledProcessError, OSError, StopIteration) as error:
        print(f"lmgauge: llama.cpp could not be built with every CPU level ({error}), so pip's "
              f"build for this machine's CPU stays installed", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
