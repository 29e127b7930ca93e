"""llama.cpp as a runtime: a model's GGUF file loaded through llama-cpp-python, as quantized.

The binding is an optional extra (`pip install -e .[llamacpp]`, which compiles llama.cpp once).
Only models that are GGUF files, or embedded assets shipped as one (smollm2-135m, Q4_1), can
run here; any other model gets one sentence saying so.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmgauge.errors import (
    ModelLoadError,
    NotApplicable,
    RuntimeMissing,
    describe_signal,
    first_line,
)
from lmgauge.sources import assets
from lmgauge.sources.configs import INSTALL_HINTS, LLAMACPP
from lmgauge.sources.llamacpp_kernels import LINKED_IN, VARIANTS_CMAKE_ARGS
from lmgauge.sources.models import CAUSAL_LM, ModelSpec

CONTEXT_TOKENS = 2048
"""The context the generator is created with: the longest prompt plus new tokens it can take."""
SCORER_CONTEXT_TOKENS = 512
"""The scorer keeps logits for every position (n_ctx x vocab float32: 100 MB for SmolLM2), so
its context is shorter; perplexity and agreement texts are scored one at a time."""


def require_binding():
    """The llama_cpp module; RuntimeMissing naming the install command when it is absent."""
    try:
        import llama_cpp
    except ImportError:
        raise RuntimeMissing(
            f"llama.cpp is not installed, so the llamacpp configuration cannot run; install it "
            f"with `{INSTALL_HINTS[LLAMACPP]}` (compiles llama.cpp once, a few minutes)."
        ) from None
    return llama_cpp


def gguf_path(spec: ModelSpec) -> Path:
    """The GGUF file of `spec`; ModelLoadError when the model has none."""
    if spec.source == "gguf":
        return Path(spec.location)
    if spec.source == "asset":
        found = sorted(assets.ensure(spec.location).glob("*.gguf"))
        if found:
            return found[0]
    raise NotApplicable(
        f"llama.cpp runs GGUF files, and model '{spec.name}' ({spec.source}) is not one; "
        f"give a .gguf path in --models to run it there."
    )


def gguf_file_type(path: Path) -> str | None:
    """A GGUF file's weight type as llama.cpp names it ("Q4_1", "F32"; its `general.file_type`),
    read with the gguf package without loading the weights; "file type N" for a type this gguf
    package does not name; None when the file does not say."""
    from gguf import GGUFReader, LlamaFileType

    field = GGUFReader(path).get_field("general.file_type")
    if field is None:
        return None
    value = int(field.contents())
    try:
        return LlamaFileType(value).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except ValueError:
        return f"file type {value}"


@dataclass
class LlamaCppModel:
    """A GGUF model loaded by llama.cpp.

    load_seconds: wall time of creating the generator (`Llama(...)`: reading the file,
    mmap, context allocation), in seconds. cpu_kernels: the CPU level llama.cpp runs
    (lmgauge.sources.llamacpp_kernels), or "linked in" for a build with one CPU backend.
    `llama` keeps no per-position logits (timing); `scorer()` opens a second context on the
    same file that does (quality).
    """

    spec: ModelSpec
    llama: Any
    path: Path
    threads: int
    load_seconds: float
    cpu_kernels: str = LINKED_IN
    task: str = CAUSAL_LM
    runtime: str = LLAMACPP

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def architecture(self) -> str:
        return f"llama.cpp {self.llama.metadata.get('general.architecture', '?')}"

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, without a BOS token (as the transformers benches feed prompts)."""
        return self.llama.tokenize(text.encode(), add_bos=False, special=False)

    def detokenize(self, tokens) -> str:
        return self.llama.detokenize(list(tokens)).decode(errors="replace")

    def scorer(self):
        """A llama.cpp context on the same file that keeps logits for every position."""
        return open_llama(self.path, self.threads, SCORER_CONTEXT_TOKENS, logits_all=True)

    def weight_type(self) -> str:
        """The file's weight type from its header (gguf_file_type: "Q4_K_M"), as served
        subjects name it; for a file that does not say (served subjects then record none), the
        type llama.cpp inferred from its tensors, the end of its model description, marked
        "(guessed)" ("llama ?B (guessed) all F32" gives "F32 (guessed)")."""
        said = gguf_file_type(self.path)
        if said:
            return said
        described = self.llama._model.desc().split(" ", 2)[-1]
        guessed = described.startswith("(guessed) ")
        kind = described.removeprefix("(guessed) ").removeprefix("all ")
        return f"{kind} (guessed)" if guessed else kind

    def describe(self) -> dict:
        """JSON-ready facts for the run report."""
        return {
            **self.spec.describe(),
            "task": self.task,
            "architecture": self.architecture,
            "description": f"GGUF file {self.path.name} run by llama.cpp as quantized",
            "device": "cpu",
            "dtype": self.weight_type(),
            "load_seconds": self.load_seconds,
            "weight_files": [str(self.path)],
            "context_tokens": CONTEXT_TOKENS,
            "cpu_kernels": self.cpu_kernels,
            "tokenizer": None,
        }


def open_llama(path: Path, threads: int, context: int, logits_all: bool = False):
    llama_cpp = require_binding()
    return llama_cpp.Llama(
        model_path=str(path),
        n_ctx=context,
        n_batch=context,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=logits_all,
        verbose=False,
    )


SMOKE_MODULE = "lmgauge.sources.llamacpp_smoke"
SMOKE_TIMEOUT_S = 120.0
"""Longest a child process may take to load the file and run a prompt through llama.cpp."""
SMOKE_PROMPT_TOKENS = 160
"""Prompt tokens the child evaluates in one batch: past the 128-token prompts of the benches,
so that kernels chosen by batch size (repacked or AMX matrix paths) run there first."""


def levels_rebuild() -> str:
    """The command that rebuilds the installed llama-cpp-python with every CPU level."""
    from importlib import metadata

    try:
        version = f"=={metadata.version('llama_cpp_python')}"
    except metadata.PackageNotFoundError:
        version = ""
    return (f'CMAKE_ARGS="{VARIANTS_CMAKE_ARGS}" python -m pip install --force-reinstall '
            f"--no-deps --no-cache-dir llama-cpp-python{version}")  # fmt: skip


def error_line(stderr: str, limit: int = 300) -> str:
    """The line of a child's stderr that names its error (the last one mentioning an Error or
    Exception, else the last line), cut to `limit` characters with an ellipsis."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line or "Exception" in line]
    line = (named or lines or ["no output"])[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def child_run(path: Path, threads: int, name: str, variant: str | None) -> int:
    """Run llama.cpp on `path` in a child process (lmgauge.sources.llamacpp_smoke, with the
    contexts this module opens, on the CPU level `variant` when given); its exit status, negative
    when a signal killed it. ModelLoadError in one sentence when it fails or hangs."""
    command = [sys.executable, "-m", SMOKE_MODULE, str(path), str(threads), str(CONTEXT_TOKENS),
               str(SCORER_CONTEXT_TOKENS), str(SMOKE_PROMPT_TOKENS), *([variant] if variant
                                                                        else [])]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ModelLoadError(
            f"llama.cpp did not load and run model '{name}' ({path}) within {SMOKE_TIMEOUT_S:g} "
            f"s in a child process."
        ) from None
    if done.returncode > 0:
        raise ModelLoadError(
            f"llama.cpp could not load and run model '{name}' ({path}) in a child process "
            f"(exit status {done.returncode}): {error_line(done.stderr).rstrip('.')}."
        )
    return done.returncode


def surviving_kernels(path: Path, threads: int, name: str) -> str | None:
    """The CPU kernels to run `path` with, after a child process has run them without crashing:
    None for a build with its CPU backend linked in; for a build with every CPU level, the
    level this process has loaded already, else the best-ranked level that survives (a level
    whose child is killed by a signal is skipped; a child that fails otherwise or hangs stops
    the search, since that is the file's or the setup's fault, not the kernels'). ModelLoadError
    in one sentence naming each crash (its signal and likely cause) when none survives: a crash
    in native code fails this subject's tests instead of killing the run."""
    from lmgauge.sources.llamacpp_kernels import cpu_variants, loaded_variant, ranked

    variants = cpu_variants()
    if not variants:
        candidates = [None]
    elif loaded_variant():
        candidates = [loaded_variant()]
    else:
        try:
            candidates = ranked(variants)
        except RuntimeError as error:
            raise ModelLoadError(str(error)) from None
    if not candidates:
        raise ModelLoadError(f"this CPU lacks the instructions of every CPU level llama.cpp was "
                             f"built with ({', '.join(variants)}), so model '{name}' cannot run "
                             f"there.")  # fmt: skip
    crashes = []
    for variant in candidates:
        status = child_run(path, threads, name, variant)
        if status == 0:
            return variant
        crashes.append((variant, -status))
    if not variants:
        number = crashes[0][1]
        advice = (f"; a build for another CPU does that: rebuild llama.cpp with every CPU level, "
                  f"which lmgauge chooses among by what this machine runs ({levels_rebuild()}, "
                  f"or ./dev with the llamacpp extra)" if number == signal.SIGILL
                  else "")  # fmt: skip
        raise ModelLoadError(
            f"llama.cpp was killed by {describe_signal(number)} when a child process ran model "
            f"'{name}' ({path}), so it is not run in this process{advice}."
        )
    if loaded_variant():
        raise ModelLoadError(
            f"llama.cpp's '{candidates[0]}' CPU kernels, which this process runs already, were "
            f"killed by {describe_signal(crashes[0][1])} when a child process ran model "
            f"'{name}' ({path}), so it is not run in this process."
        )
    tried = "; ".join(f"{variant} by {describe_signal(number)}" for variant, number in crashes)
    raise ModelLoadError(
        f"every CPU level of llama.cpp that this CPU lists was killed when a child process ran "
        f"model '{name}' ({path}), so it is not run in this process: {tried}."
    )


def load_llamacpp(spec: ModelSpec, threads: int) -> LlamaCppModel:
    """Load the GGUF file of `spec` into llama.cpp, after a child process has run it without
    crashing; RuntimeMissing or ModelLoadError, each one sentence, when that cannot be done."""
    require_binding()
    path = gguf_path(spec)
    kernels = surviving_kernels(path, threads, spec.name)
    if kernels:
        from lmgauge.sources.llamacpp_kernels import load_variant

        try:
            load_variant(kernels)
        except RuntimeError as error:
            raise ModelLoadError(str(error)) from None
    started = time.perf_counter()
    try:
        llama = open_llama(path, threads, CONTEXT_TOKENS)
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        raise ModelLoadError(
            f"llama.cpp could not load model '{spec.name}' from {path}: "
            f"{type(error).__name__}: {first_line(error, 300)}"
        ) from None
    return LlamaCppModel(
        spec=spec, llama=llama, path=path, threads=threads,
        load_seconds=time.perf_counter() - started, cpu_kernels=kernels or LINKED_IN,
    )  # fmt: skip
