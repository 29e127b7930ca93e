"""Load a ModelSpec into memory: prepare its files (untimed), then load model and tokenizer (timed).

Every failure is turned into a ModelLoadError whose message is one sentence naming the model.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmgauge.compute import dtype_name, resolve_dtype, synchronizer
from lmgauge.errors import LmgaugeError, ModelLoadError, first_line
from lmgauge.sources import builders, hub
from lmgauge.sources.configs import RunConfig
from lmgauge.sources.decoding import neutralise
from lmgauge.sources.models import BUILT_SOURCES, CAUSAL_LM, ModelSpec, task_of

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
)


@dataclass
class LoadedModel:
    """A model in memory with what is known about it.

    load_seconds: wall time of `from_pretrained` plus the move to the device, in seconds, in
    this process (warm page cache after the first run; cold loads are measured separately).
    tokenizer_seconds: wall time of loading the tokenizer, in seconds (0.0 without one).
    config: the configuration it runs in (attention kernel, dtype, quantization, compile).
    transform_seconds: wall time, in seconds, of each step the configuration applied after the
    load ("quantize", "compile"), outside load_seconds.
    """

    spec: ModelSpec
    model: Any
    tokenizer: Any | None
    task: str
    architecture: str
    folder: Path
    gguf_file: str | None
    device: Any
    dtype: Any
    load_seconds: float
    tokenizer_seconds: float
    config: RunConfig = field(default_factory=RunConfig)
    transform_seconds: dict[str, float] = field(default_factory=dict)
    generation_overridden: dict = field(default_factory=dict)
    """What the folder's generation_config.json asked for beyond token ids, which lmgauge does
    not inherit (lmgauge.sources.decoding): every generation here is as its call site says."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def runtime(self) -> str:
        """The runtime it runs in (lmgauge.runtimes.RUNTIMES): transformers."""
        return self.config.runtime

    def weight_files(self) -> list[Path]:
        """The files the weights were read from (safetensors, .bin or .gguf)."""
        if self.gguf_file:
            return [self.folder / self.gguf_file]
        return sorted(
            p for pattern in ("*.safetensors", "*.bin") for p in self.folder.glob(pattern)
        )

    def describe(self) -> dict:
        """JSON-ready facts for the run report."""
        tokenizer = self.tokenizer
        return {
            **self.spec.describe(),
            "task": self.task,
            "architecture": self.architecture,
            "device": str(self.device),
            "dtype": dtype_name(self.dtype),
            "load_seconds": self.load_seconds,
            "config": self.config.describe(),
            "attention": getattr(self.model.config, "_attn_implementation", None),
            "kv_cache": bool(getattr(self.model.config, "use_cache", True)),
            "generation_overridden": self.generation_overridden,
            "device_map": device_map_facts(self.model),
            **{f"{step}_seconds": seconds for step, seconds in self.transform_seconds.items()},
            "weight_files": [str(path) for path in self.weight_files()],
            "tokenizer": tokenizer_facts(tokenizer, self.tokenizer_seconds),
        }


def tokenizer_facts(tokenizer, load_seconds: float) -> dict | None:
    """JSON-ready facts of a transformers tokenizer for the run report (load_seconds: wall time
    of loading it, in seconds); None without one."""
    if tokenizer is None:
        return None
    return {
        "class": type(tokenizer).__name__,
        "pad_token": tokenizer.pad_token,
        "eos_token": tokenizer.eos_token,
        "bos_token": tokenizer.bos_token,
        "load_seconds": load_seconds,
    }


def device_map_facts(model) -> dict | None:
    """For a model placed by a device_map: how many modules went to each place, and which were
    offloaded to the CPU or disk (they run there, or are read from there, at every pass);
    None for a model on one device."""
    placed = getattr(model, "hf_device_map", None)
    if not placed:
        return None
    counts: dict[str, int] = {}
    for where in placed.values():
        counts[str(where)] = counts.get(str(where), 0) + 1
    offloaded = sorted(name for name, where in placed.items() if str(where) in ("cpu", "disk"))
    return {"modules_per_device": counts, "offloaded": offloaded}


def prepare(spec: ModelSpec) -> tuple[Path, str | None]:
    """Make the model's files local: (folder, gguf file name or None). Not part of load time."""
    with failures_as_load_errors(spec):
        return _prepare(spec)


def _prepare(spec: ModelSpec) -> tuple[Path, str | None]:
    if spec.source in BUILT_SOURCES:
        return builders.ensure_model_folder(spec), None
    if spec.source == "hub":
        return hub.snapshot(spec.location), None
    path = Path(spec.location)
    if spec.source == "gguf":
        return path.parent, path.name
    return path, None


def load(spec: ModelSpec, device, dtype, config: RunConfig | None = None) -> LoadedModel:
    """Prepare and load `spec` on `device` in `dtype` (or the configuration's), in eval mode;
    ModelLoadError on failure. The configuration's quantization and compilation are not applied:
    lmgauge.runtimes.load_subject loads a subject as the benches see it."""
    folder, gguf_file = prepare(spec)
    return load_prepared(spec, folder, gguf_file, device, dtype, config)


@contextlib.contextmanager
def failures_as_load_errors(spec: ModelSpec) -> Iterator[None]:
    """Turn any exception inside the block into a one-sentence ModelLoadError naming `spec`."""
    try:
        yield
    except LmgaugeError as error:
        raise ModelLoadError(f"model '{spec.name}' could not be loaded: {error}") from None
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        raise ModelLoadError(
            f"model '{spec.name}' could not be loaded from {spec.location}: "
            f"{type(error).__name__}: {first_line(error, 300)}"
        ) from None


def load_prepared(
    spec: ModelSpec, folder: Path, gguf_file: str | None, device, dtype,
    config: RunConfig | None = None, with_tokenizer: bool = True,
) -> LoadedModel:  # fmt: skip
    """Load the prepared files of `spec`; see `prepare`. The configuration's attention kernel,
    dtype and device map are applied here; its quantization and compilation are not (see
    lmgauge.sources.transforms). with_tokenizer False: the model alone (tokenizer None)."""
    config = config or RunConfig()
    with failures_as_load_errors(spec):
        return _load_prepared(spec, folder, gguf_file, device, dtype, config, with_tokenizer)


def has_tokenizer(folder: Path, gguf_file: str | None) -> bool:
    return bool(gguf_file) or any((folder / name).is_file() for name in TOKENIZER_FILES)


def reference_tokenizer(spec: ModelSpec):
    """The transformers tokenizer of the model's files, the one the transformers benches
    tokenize with (so a figure of another runtime can be computed on the same token ids), or
    None when the files have no tokenizer (synthetic weights). ModelLoadError when it cannot
    load."""
    from transformers import AutoTokenizer

    folder, gguf_file = prepare(spec)
    if not has_tokenizer(folder, gguf_file):
        return None
    with failures_as_load_errors(spec):
        return AutoTokenizer.from_pretrained(
            folder, **({"gguf_file": gguf_file} if gguf_file else {})
        )


def _load_prepared(
    spec, folder: Path, gguf_file, device, dtype, config, with_tokenizer: bool
) -> LoadedModel:
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    import lmgauge.sources.scratch_hf  # noqa: F401 - registers the from-scratch GPT's type

    extra = {"gguf_file": gguf_file} if gguf_file else {}
    model_config = AutoConfig.from_pretrained(folder, **extra)
    task = spec.task or task_of((model_config.architectures or [None])[0])
    model_class = AutoModelForCausalLM if task == CAUSAL_LM else AutoModel
    dtype = resolve_dtype(config.dtype) if config.dtype else dtype
    chosen = {"attn_implementation": config.attention} if config.attention else {}
    started = time.perf_counter()
    if config.device_map:
        model = model_class.from_pretrained(
            folder, dtype=dtype, device_map=config.device_map, **chosen, **extra
        ).eval()
    else:
        model = model_class.from_pretrained(folder, dtype=dtype, **chosen, **extra)
        model = model.to(device).eval()
    synchronizer(device)()
    load_seconds = time.perf_counter() - started
    overridden = neutralise(model)
    tokenizer, tokenizer_seconds = None, 0.0
    if with_tokenizer and has_tokenizer(folder, gguf_file):
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
        tokenizer_seconds = time.perf_counter() - started
    return LoadedModel(
        spec=spec,
        model=model,
        tokenizer=tokenizer,
        task=task,
        architecture=type(model).__name__,
        folder=folder,
        gguf_file=gguf_file,
        device=device,
        dtype=dtype,
        load_seconds=load_seconds,
        tokenizer_seconds=tokenizer_seconds,
        config=config,
        generation_overridden=overridden,
    )
