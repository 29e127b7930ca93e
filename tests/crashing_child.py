"""A child process that dies of an illegal instruction, as a -march=native build of llama.cpp
does on a host that hides AMX (tests/test_llamacpp.py); given the CPU level "haswell" as its
seventh argument (as lmgauge.sources.llamacpp_smoke is given one), it runs and exits 0."""

import os
import signal
import sys

if sys.argv[6:7] != ["haswell"]:
    os.kill(os.getpid(), signal.SIGILL)
