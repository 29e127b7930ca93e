"""`python -m lmgauge.sources.llamacpp_levels_wheel`: put llama-cpp-python built with every CPU
level (lmgauge.sources.llamacpp_kernels) in place of the installed build, building its wheel
once per version into lmgauge's cache (1000 s on 2 cores). `./dev` runs it when it
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
    """Where the wheel of `version` built with every CPU level is kept (in lmgauge's cache:
    $LMGAUGE_CACHE, else $XDG_CACHE_HOME/lmgauge, else ~/.cache/lmgauge)."""
    from lmgauge.sources.cache import cache_root

    return cache_root() / "wheels" / f"llama-cpp-python-{version}-every-cpu-level"


def build_wheel(version: str, folder: Path) -> Path:
    """Build the wheel into `folder` (through a .partial folder, so that a killed build leaves
    nothing that looks finished); the wheel's path."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    print(f"lmgauge: building llama.cpp (llama-cpp-python {version}) with every CPU level, once, "
          f"into {folder} (1000 s on 2 cores)", file=sys.stderr)  # fmt: skip
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
    retry = "`python -m lmgauge.sources.llamacpp_levels_wheel`"
    try:
        cached = next(folder.glob("*.whl"), None) if folder.is_dir() else None
        wheel = cached or build_wheel(version, folder)
    except (subprocess.CalledProcessError, OSError, StopIteration) as error:
        print(f"lmgauge: llama.cpp could not be built with every CPU level ({failure(error)}), so "
              f"pip's build for this machine's CPU stays installed; {retry} tries again",
              file=sys.stderr)  # fmt: skip
        return 0
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--force-reinstall", "--disable-pip-version-check", str(wheel)],
                       check=True)  # fmt: skip
    except subprocess.CalledProcessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"lmgauge: the wheel {wheel} could not be installed ({failure(error)}); it is "
              f"removed from the cache, pip's build stays installed, and {retry} builds it "
              f"again", file=sys.stderr)  # fmt: skip
    return 0


def failure(error: BaseException) -> str:
    """What went wrong, in a few words: a command's exit status, else the error itself."""
    if isinstance(error, subprocess.CalledProcessError):
        command = " ".join(["pip", *error.cmd[3:4]])
        return f"{command} exited with status {error.returncode}"
    return str(error) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
