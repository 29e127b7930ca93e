"""ONNX Runtime GenAI's files and model for a transformers model: the model folder exported once by
onnxruntime-genai's own model builder (float32, CPU) into the cache, then opened with the run's
thread count.

The builder exports the architectures it knows (Llama, SmolLM2's, among them; GPT-2 and BERT
are not) from a transformers folder; any other model fails its own subject in one sentence.
The export runs in a child process (it imports torch and transformers in its own way) and is
reused across runs, keyed by the source folder's files, the builder's version and precision.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmgauge.errors import ModelLoadError, NotApplicable, RuntimeMissing, first_line
from lmgauge.files import write_text_atomic
from lmgauge.sources.cache import building, cache_root, is_stamp_file, manifest_problems
from lmgauge.sources.configs import INSTALL_HINTS, ONNX_GENAI
from lmgauge.sources.models import CAUSAL_LM, ModelSpec

PRECISION = "fp32"
"""The builder's precision: float32 weights and activations, as the transformers reference."""
EXPORT_TIMEOUT_S = 1800


def require_genai():
    """The onnxruntime_genai module; RuntimeMissing naming the install command when absent."""
    try:
        import onnxruntime_genai
    except ImportError:
        raise RuntimeMissing(
            f"ONNX Runtime GenAI is not installed, so the {ONNX_GENAI} configuration cannot "
            f"run; install it with `{INSTALL_HINTS[ONNX_GENAI]}`."
        ) from None
    return onnxruntime_genai


def source_folder(spec: ModelSpec) -> Path:
    """The transformers folder the builder exports; NotApplicable for a GGUF file."""
    from lmgauge.sources.loading import prepare

    folder, gguf_file = prepare(spec)
    if gguf_file:
        raise NotApplicable(
            f"ONNX Runtime GenAI's builder exports transformers folders, and model "
            f"'{spec.name}' is the GGUF file {gguf_file}"
        )
    return folder


def export_key(folder: Path, builder_version: str) -> str:
    """A hash of what the export depends on: every file's name, size and modification time in
    the source folder (not the cache's stamp file, rewritten whenever the folder is hashed
    again), the builder's version and the precision."""
    files = sorted(
        (str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*") if path.is_file() and not is_stamp_file(path.name)
    )  # fmt: skip
    text = json.dumps([files, builder_version, PRECISION])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def exported_folder(spec: ModelSpec) -> tuple[Path, float | None]:
    """(the exported ONNX folder of `spec`, seconds the builder took in this call, or None when
    an intact export was in the cache: one whose files match its manifest; a damaged one is
    exported again); ModelLoadError with the builder's own error line."""
    genai = require_genai()
    folder = source_folder(spec)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in spec.name)
    final = cache_root() / "onnx-genai" / f"{safe}-{export_key(folder, genai.__version__)}"
    if final.exists() and not manifest_problems(final):
        return final, None
    check_readable(spec, folder)
    unsupported = cache_root() / "onnx-genai" / f"unsupported-{genai.__version__}.json"
    if architecture(folder) in known_unsupported(unsupported):
        raise unsupported_error(spec, folder)
    about = {"model": spec.name, "source": str(folder), "builder": genai.__version__,
             "precision": PRECISION}  # fmt: skip
    try:
        with building(final, about) as staging:
            started = time.perf_counter()
            run_builder(spec, folder, staging)
            seconds = time.perf_counter() - started
    except NotApplicable:
        remember_unsupported(unsupported, architecture(folder))
        raise
    return final, seconds


def known_unsupported(path: Path) -> list[str]:
    """The architectures this builder version refused to export, as remembered in `path`: the
    builder decides by architecture alone, and finding out again costs 5-10 s a run."""
    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


def remember_unsupported(path: Path, name: str) -> None:
    with contextlib.suppress(OSError):
        write_text_atomic(json.dumps(sorted({*known_unsupported(path), name})), path)


def unsupported_error(spec: ModelSpec, folder: Path) -> NotApplicable:
    return NotApplicable(
        f"ONNX Runtime GenAI's builder does not export the {architecture(folder)} "
        f"architecture of model '{spec.name}'"
    )


def check_readable(spec: ModelSpec, folder: Path) -> None:
    """NotApplicable when the folder's model type is not one transformers itself knows (the
    course's from-scratch GPT, which lmgauge registers only in its own process): the builder
    reads the folder through transformers, in a process of its own."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        return
    if model_type and model_type not in CONFIG_MAPPING_NAMES:
        raise NotApplicable(
            f"ONNX Runtime GenAI's builder reads transformers models, and model '{spec.name}' "
            f"is of type {model_type}, which transformers does not know"
        )


def run_builder(spec: ModelSpec, folder: Path, out: Path) -> None:
    """The builder in a child process, exporting `folder` into `out`, its downloads and
    intermediate files in a temporary folder of their own."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    with tempfile.TemporaryDirectory(prefix="lmgauge-onnx-builder-") as scratch:
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(folder),
                   "-o", str(out), "-p", PRECISION, "-e", "cpu", "-c", scratch]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=environment,
                                  timeout=EXPORT_TIMEOUT_S, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ModelLoadError(
                f"ONNX Runtime GenAI's builder did not export model '{spec.name}' within "
                f"{EXPORT_TIMEOUT_S} s"
            ) from None
    output = done.stdout + done.stderr
    if done.returncode != 0 and "is not currently supported" in output:
        raise unsupported_error(spec, folder)
    if done.returncode != 0:
        raise ModelLoadError(
            f"ONNX Runtime GenAI's builder could not export model '{spec.name}': "
            f"{builder_error(output)}"
        )


def architecture(folder: Path) -> str:
    """The model class its config.json names, or "unnamed" when it names none."""
    try:
        return (json.loads((folder / "config.json").read_text()).get("architectures") or
                ["unnamed"])[0]  # fmt: skip
    except (OSError, ValueError):
        return "unnamed"


def builder_error(output: str) -> str:
    """The builder's error in one line: the last line naming an error or exception, else the
    last line it printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line or "Exception" in line]
    return first_line((named or lines or ["no output"])[-1], 300)


@dataclass
class OnnxGenAiModel:
    """A model exported by ONNX Runtime GenAI's builder and opened by it.

    model: the onnxruntime_genai.Model; folder: the exported folder; load_seconds: wall time of
    opening it (reading the ONNX file, creating the session), in seconds; export_seconds: wall
    time of the export in this run, in seconds (None: reused from the cache); tokenizer: the
    transformers tokenizer of the source files (the same token ids as the transformers benches);
    tokenizer_seconds: wall time of loading it, in seconds.
    """

    spec: ModelSpec
    model: Any
    folder: Path
    threads: int
    load_seconds: float
    export_seconds: float | None
    tokenizer: Any
    vocabulary: int
    context: int
    tokenizer_seconds: float = 0.0
    task: str = CAUSAL_LM
    runtime: str = ONNX_GENAI

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def architecture(self) -> str:
        return f"ONNX Runtime GenAI {self.model_type}"

    @property
    def model_type(self) -> str:
        return genai_config(self.folder)["model"].get("type", "?")

    def describe(self) -> dict:
        """JSON-ready facts for the run report."""
        from lmgauge.sources.loading import tokenizer_facts

        genai = require_genai()
        return {
            **self.spec.describe(),
            "task": self.task,
            "architecture": self.architecture,
            "description": f"exported by onnxruntime-genai {genai.__version__}'s model builder "
                           f"({PRECISION}, CPU), run by ONNX Runtime GenAI",
            "device": "cpu",
            "dtype": "float32",
            "load_seconds": self.load_seconds,
            "export_seconds": self.export_seconds,
            "weight_files": [str(path) for path in sorted(self.folder.glob("*.onnx*"))],
            "context_tokens": self.context,
            "threads": self.threads,
            "tokenizer": tokenizer_facts(self.tokenizer, self.tokenizer_seconds),
        }


def genai_config(folder: Path) -> dict:
    return json.loads((folder / "genai_config.json").read_text())


def open_genai(folder: Path, threads: int):
    """An onnxruntime_genai.Model of the exported `folder` with `threads` intra-op threads."""
    genai = require_genai()
    config = genai.Config(str(folder))
    options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
    config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
    return genai.Model(config)


def load_onnx_genai(spec: ModelSpec, threads: int) -> OnnxGenAiModel:
    """Export `spec` (once; see exported_folder) and open it with `threads` intra-op threads;
    RuntimeMissing, NotApplicable or ModelLoadError in one sentence when that cannot be done."""
    from lmgauge.sources.loading import reference_tokenizer

    folder, export_seconds = exported_folder(spec)
    started = time.perf_counter()
    try:
        model = open_genai(folder, threads)
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        raise ModelLoadError(
            f"ONNX Runtime GenAI could not open model '{spec.name}' from {folder}: "
            f"{type(error).__name__}: {first_line(error, 300)}"
        ) from None
    load_seconds = time.perf_counter() - started
    settings = genai_config(folder)["model"]
    started = time.perf_counter()
    tokenizer = reference_tokenizer(spec)
    return OnnxGenAiModel(
        spec=spec, model=model, folder=folder, threads=threads, load_seconds=load_seconds,
        export_seconds=export_seconds, tokenizer=tokenizer,
        vocabulary=settings["vocab_size"], context=settings["context_length"],
        tokenizer_seconds=time.perf_counter() - started,
    )  # fmt: skip
