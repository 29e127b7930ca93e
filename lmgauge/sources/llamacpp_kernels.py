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
    """The libggml that libllama links, from llama_cpp's library folder: the file named by its
    soname (`libggml.so.0`), since a wheel holds `libggml.so`, `.so.0` and `.so.0.x.y` as
    three copies, each its own library with its own backend registry once loaded. It loads
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
    """The levels this CPU's CPUID lists every instruction of, best first."""
    scores = {name: score(path) for name, path in variants.items()}
    return sorted((name for name, value in scores.items() if value > 0), key=lambda n: -scores[n])


def loaded_variant() -> str | None:
    """The level this process has loaded, None before load_variant."""
    return _loaded


def load_variant(name: str, folder: Path | None = None) -> None:
    """Register the CPU level `name` as this process's CPU backend (ggml_backend_load of
    libggml, which llama_cpp loads too); a no-op when it is loaded already. RuntimeError in one
    sentence when another level is loaded already or ggml cannot load the file."""
    global _loaded
    if _loaded == name:
        return
    if _loaded is not None:
        raise RuntimeError(f"this process runs llama.cpp's '{_loaded}' CPU kernels already, "
                           f"and ggml keeps one CPU backend per process, not also "
                           f"'{name}'.")  # fmt: skip
    path = cpu_variants(folder).get(name)
    if path is None:
        raise RuntimeError(f"llama.cpp has no '{name}' CPU kernels in {folder or library_dir()}.")
    library = ggml(folder)
    library.ggml_backend_load.restype = ctypes.c_void_p
    library.ggml_backend_load.argtypes = [ctypes.c_char_p]
    if not library.ggml_backend_load(str(path).encode()):
        raise RuntimeError(f"ggml could not load llama.cpp's '{name}' CPU kernels from {path}.")
    _loaded = name
