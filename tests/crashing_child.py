"""A child process that dies of an illegal instruction, as a -march=native build of llama.cpp
does on a host that hides AMX (tests/test_llamacpp.py)."""

import os
import signal

os.kill(os.getpid(), signal.SIGILL)
