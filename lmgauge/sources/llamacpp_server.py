"""`python -m lmgauge.sources.llamacpp_server CPU_LEVEL ARGS...`: llama-cpp-python's server
(`python -m llama_cpp.server ARGS...`) on the CPU level CPU_LEVEL of a llama.cpp built with every
level (lmgauge.sources.llamacpp_kernels), which loads no CPU backend by itself."""

from __future__ import annotations

import runpy
import sys

from lmgauge.sources.llamacpp_kernels import load_variant

if __name__ == "__main__":
    level, sys.argv = sys.argv[1], ["llama_cpp.server", *sys.argv[2:]]
    load_variant(level)
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
