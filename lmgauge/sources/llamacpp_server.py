"""`python -m lmgauge.sources.llamacpp_server CPU_LEVEL ARGS...`: llama-cpp-python's server
(`python -m llama_cpp.server ARGS...`) on the CPU level CPU_LEVEL of a llama.cpp built with every
level (lmgauge.sources.llamacpp_kernels), which loads no CPU backend by itself."""

from __future__ import annotations

import runpy
import sys

from lmgauge.sources.llamacpp_kernels import load_variant

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python -m lmgauge.sources.llamacpp_server CPU_LEVEL [llama_cpp.server "
                 "arguments...], CPU_LEVEL one of llama.cpp's levels (haswell, x64, ...).")
    level, sys.argv = sys.argv[1], ["llama_cpp.server", *sys.argv[2:]]
    try:
        load_variant(level)
    except RuntimeError as error:
        sys.exit(f"lmgauge: {error}")
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
