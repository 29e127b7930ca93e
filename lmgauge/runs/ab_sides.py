"""The two sides of an A/B run: what code, in what Python environment, with what pytest arguments.

A side is the current checkout in the current environment (the default), a git ref of this
repository (checked out in a worktree under .lmgauge/worktrees/, run in the current environment
when its pyproject.toml equals the current one, else in an environment of its own built with
its ./dev script), or `python:PATH` (the current checkout run by another interpreter, e.g. one
with another transformers version). Either can add pytest arguments (`--threads 1`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lmgauge.errors import LmgaugeError

PYTHON_PREFIX = "python:"


@dataclass(frozen=True)
class Side:
    """label: "base" or "new"; description: what it is, for the report; python: the interpreter
    that runs pytest; folder: the checkout it runs in; arguments: extra pytest arguments."""

    label: str
    description: str
    python: str
    folder: Path
    arguments: tuple[str, ...] = ()
    commit: str | None = None
    environment: dict = field(default_factory=dict)

    def identity(self) -> tuple:
        return (self.python, str(self.folder), self.arguments, self.commit)

    def facts(self) -> dict:
        """What the A/B report says of this side."""
        return {
            "description": self.description, "python": self.python, "folder": str(self.folder),
            "commit": self.commit, "arguments": list(self.arguments),
        }  # fmt: skip

    def command(self, pytest_arguments: list[str], report_dir: Path) -> list[str]:
        return [
            self.python, "-m", "pytest", *pytest_arguments, *self.arguments,
            "--report-dir", str(report_dir), "-p", "no:cacheprovider",
        ]  # fmt: skip


def git(repository: Path, *arguments: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repository), *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise LmgaugeError(done.stderr.strip().splitlines()[-1] if done.stderr else "git failed")
    return done.stdout.strip()


def resolve_side(label: str, spec: str | None, arguments: str, repository: Path) -> Side:
    """The side `spec` (None, a git ref, or python:PATH) with extra pytest `arguments`."""
    try:
        extra = tuple(shlex.split(arguments or ""))
    except ValueError as error:
        raise LmgaugeError(f"--{label}-args {arguments!r} cannot be split into arguments "
                           f"({error}).") from None  # fmt: skip
    if spec is None:
        return Side(label, "this checkout", sys.executable, repository, extra)
    if spec.startswith(PYTHON_PREFIX):
        python = check_python(spec.removeprefix(PYTHON_PREFIX))
        return Side(label, f"this checkout run by {python}", python, repository, extra)
    return git_side(label, spec, extra, repository)


def check_python(path: str) -> str:
    """`path` when it is an interpreter that can run the benches; LmgaugeError otherwise."""
    if not os.access(path, os.X_OK) or Path(path).is_dir():
        raise LmgaugeError(f"python:{path} is not an executable Python interpreter.")
    probe = subprocess.run(
        [path, "-c", "import torch, transformers, pytest_benchmark; print('lmgauge-ok')"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode or "lmgauge-ok" not in probe.stdout:
        last = (probe.stderr.strip().splitlines() or ["it is not a working Python"])[-1]
        raise LmgaugeError(
            f"python:{path} cannot run the benches ({last}); install lmgauge's dependencies "
            f"into it (pip install -e .)."
        )
    return path


def git_side(label: str, ref: str, extra: tuple, repository: Path) -> Side:
    """A side for git `ref`: a worktree of that commit and an environment to run it in."""
    try:
        commit = git(repository, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except LmgaugeError:
        raise LmgaugeError(
            f"'{ref}' is not a git ref of {repository} (a branch, tag or commit); "
            f"`git log --oneline` lists commits."
        ) from None
    folder = repository / ".lmgauge" / "worktrees" / commit[:12]
    if not (folder / ".git").exists():
        git(repository, "worktree", "add", "--detach", "--force", str(folder), commit)
    python = environment_for(folder, repository)
    return Side(label, f"git {ref} ({commit[:12]})", python, folder, extra, commit,
                {"PYTHONPATH": str(folder)})  # fmt: skip


def environment_for(folder: Path, repository: Path) -> str:
    """The interpreter for a worktree: the current one when the dependencies are the same,
    else the worktree's own .venv, built once by its ./dev script."""
    if (folder / "pyproject.toml").read_bytes() == (repository / "pyproject.toml").read_bytes():
        return sys.executable
    python = folder / ".venv" / "bin" / "python"
    built = subprocess.run(
        ["bash", str(folder / "dev"), "python", "-c", "import lmgauge"],
        cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if built.returncode or not python.exists():
        last = (built.stderr.strip().splitlines() or ["no output"])[-1]
        raise LmgaugeError(
            f"the environment for the worktree {folder} could not be built ({last}); "
            f"see `{folder}/dev` and its pyproject.toml."
        )
    return str(python)
