"""Which of llama.cpp's CPU kernel builds runs on this machine.

pip builds llama-cpp-python, by default, with one CPU backend compiled for the machine that
built it (-march=native) and linked in: it uses every instruction that machine has, and dies of
an illegal instruction on a machine that allows less. Built with VARIANTS_CMAKE_ARGS instead,
it has one CPU backend per x86-64 level, each a file `libggml-cpu-<level>.so` beside libggml,
loaded at run time. ggml ranks the levels by the CPU's CPUID flags (`ggml_backend_score`: 0 for
a level whose instructions the CPUID does not list), but CPUID can promise what a machine does
not allow (a VM that lists AMX and traps its tile instructions). So lmgauge tries the levels
best first, each in a child process (lmgauge.sources.llamacpp), and loads the first that runs
without crashing. With the default build there are no levels to choose and nothing to load.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

VARIANTS_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
"""The CMake flags of a llama-cpp-python build that carries every CPU level. Its wheel installs
the levels into the `bin` folder beside the llama_cpp package (GGML_BACKEND_DIR=llama_cpp/lib
would put them beside libggml, but CMake makes that path absolute, into the build's source
tree, and the wheel then has none)."""
VARIANT_PREFIX = "libggml-cpu-"
LINKED_IN = "linked in"
"""The kernels of a build with one CPU backend linked in, as reports name them."""

_loaded: str | None = None
"""The level this process has loaded; ggml keeps one CPU backend per process here."""


def library_dir() -> Path:
    """The folder of llama-cpp-python's native libraries (it imports nothing from llama_cpp);
    ImportError when llama_cpp is not installed."""
    from importlib.util import find_spec

    try:
        found = find_spec("llama_cpp")
    except ValueError:  # sys.modules["llama_cpp"] is None: the import is blocked
        found = None
    if found is None or not found.submodule_search_locations:
        raise ImportError("llama_cpp is not installed")
    return Path(next(iter(found.submodule_search_locations))) / "lib"


def cpu_variants(folder: Path | None = None) -> dict[str, Path]:
    """Each CPU level's library by level name ("haswell", "sapphirerapids", ...), from `folder`
    (default: the `bin` folder beside the llama_cpp package, where the wheel installs them, and
    llama_cpp's library folder);
    empty for a build with its CPU backend linked in."""
    default = [library_dir().parent.parent / "bin", library_dir()] if folder is None else []
    folders = [folder] if folder is not None else default
    found: dict[str, Path] = {}
    for place in folders:
        for path in sorted(place.glob(f"{VARIANT_PREFIX}*.so")):
            found.setdefault(path.name[len(VARIANT_PREFIX) :].split(".so")[0], path)
    return found


def ggml(folder: Path | None = None) -> ctypes.CDLL:
    """The libggml that libllama links, from llama_cpp's library folder: the shortest
    `libggml.so.<n>` name, which is the soname libllama asks for (`libggml.so.0`), since a
    wheel holds `libggml.so`, `.so.0` and `.so.0.x.y` as three copies, each its own library
    with its own backend registry once loaded. It loads
    libggml-base, which every level's file needs and finds only among the libraries loaded
    already (the files carry no search path)."""
    folder = folder or library_dir()
    named = sorted(folder.glob("libggml.so.*"), key=lambda path: len(path.name))
    return ctypes.CDLL(str(named[0] if named else folder / "libggml.so"))


def score(path: Path) -> int:
    """ggml's rank of the level in `path` on this CPU by its CPUID flags (0: not supported),
    read as ggml_backend_load_best reads it: dlopen the file and call its ggml_backend_score."""
    ggml()
    library = ctypes.CDLL(str(path))
    library.ggml_backend_score.restype = ctypes.c_int
    return int(library.ggml_backend_score())


def ranked(variants: dict[str, Path]) -> list[str]:
    """The levels this CPU's CPUID lists every instruction of, best first, scored in a child
    process (`python -m lmgauge.sources.llamacpp_kernels`): opening a level's file runs its
    static initialisers, which may use instructions this CPU lacks. RuntimeError in one
    sentence when the child dies or fails."""
    if not variants:
        return []
    command = [sys.executable, "-m", __name__, *map(str, variants.values())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scoring llama.cpp's CPU levels in a child process failed (exit "
                           f"status {done.returncode}): {done.stderr.strip()[-300:]}")  # fmt: skip
    scores = dict(zip(variants, json.loads(done.stdout), strict=True))
    return sorted((name for name, value in scores.items() if value > 0), key=lambda n: -scores[n])


def loaded_variant() -> str | None:
    """The level this process has loaded, None before load_variant."""
    return _loaded


def load_variant(name: str, folder: Path | None = None) -> None:
    """Register the CPU level `name` as this process's CPU backend (ggml_backend_load of
    libggml, which llama_cpp loads too); a no-op when it is loaded already. RuntimeError in one
    sentence when another level is loaded already, there is no such level, or ggml cannot load
    it (ImportError without llama_cpp, OSError without libggml)."""
    global _loaded
    if _loaded == name:
        return
    if _loaded is not None:
        raise RuntimeError(f"this process runs llama.cpp's '{_loaded}' CPU kernels already, "
                           f"and ggml keeps one CPU backend per process, not also "
                           f"'{name}'.")  # fmt: skip
    variants = cpu_variants(folder)
    path = variants.get(name)
    if path is None:
        levels = ", ".join(variants) or "none (one CPU backend linked in)"
        raise RuntimeError(f"llama.cpp has no '{name}' CPU kernels; its levels here: {levels}.")
    library = ggml(folder)
    library.ggml_backend_load.restype = ctypes.c_void_p
    library.ggml_backend_load.argtypes = [ctypes.c_char_p]
    if not library.ggml_backend_load(str(path).encode()):
        why = " (this CPU lacks its instructions)" if score(path) == 0 else ""
        raise RuntimeError(f"ggml could not load llama.cpp's '{name}' CPU kernels from "
                           f"{path}{why}.")  # fmt: skip
    _loaded = name


if __name__ == "__main__":
    print(json.dumps([score(Path(path)) for path in sys.argv[1:]]))
