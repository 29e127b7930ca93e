"""A child process in a process group of its own that never outlives lmgauge, its own children
included.

`start_group(argv, ...)` starts the child as the leader of a new process group, with SIGKILL as
its parent-death signal (prctl PR_SET_PDEATHSIG, Linux), and a watchdog: a small separate
process that holds the read end of a pipe whose write end only lmgauge holds. When lmgauge dies
in any way (SIGKILL included), the kernel closes that pipe and the watchdog sends SIGKILL to the
whole group, so the processes the child started (vLLM's engine and workers, pip's build
backends), which the parent-death signal does not reach, go too. `Group.stop()` ends the group
(SIGTERM, then SIGKILL) and stands the watchdog down first, so that it never signals a group id
that a later process may reuse.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

WATCHDOG = """\
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
if not sys.stdin.buffer.read(1):
    try:
        os.killpg({group}, signal.SIGKILL)
    except ProcessLookupError:
        pass
"""
"""The watchdog: one byte on its stdin stands it down; end of file (lmgauge is gone) kills."""


def die_with_parent() -> None:
    """In the child, before exec: a process group of its own, and SIGKILL when lmgauge dies."""
    os.setpgrp()
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Group:
    """A started child (`process`, its pid is the group id) and its watchdog."""

    process: subprocess.Popen
    watchdog: subprocess.Popen | None
    guard: int | None
    """lmgauge's end of the watchdog's pipe."""

    def stand_down(self) -> None:
        """Tell the watchdog the group is being ended by lmgauge itself; idempotent."""
        if self.guard is None:
            return
        with contextlib.suppress(OSError):
            os.write(self.guard, b"x")
        os.close(self.guard)
        self.guard = None
        if self.watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watchdog.wait(timeout=10)

    def stop(self, grace_s: float) -> None:
        """SIGTERM to the group, SIGKILL after `grace_s` seconds; then the watchdog stands down.
        Idempotent."""
        try:
            for sent, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
                if self.process.poll() is not None:
                    break
                try:
                    os.killpg(self.process.pid, sent)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
            kill_group_rest(self.process.pid)
        finally:
            self.stand_down()


def kill_group_rest(group: int) -> None:
    """SIGKILL to what is left of a group whose leader has exited (its children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def start_group(argv: list[str], **popen) -> Group:
    """Start `argv` as a process group that dies with lmgauge (see the module's docstring);
    `popen` goes to subprocess.Popen (stdout, env, ...)."""
    process = subprocess.Popen(argv, preexec_fn=die_with_parent, **popen)
    watchdog, guard = None, None
    if sys.platform.startswith("linux"):
        read_end, guard = os.pipe()
        try:
            watchdog = subprocess.Popen(
                [sys.executable, "-c", WATCHDOG.format(group=process.pid)], stdin=read_end,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(read_end)
    return Group(process, watchdog, guard)
