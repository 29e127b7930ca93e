"""Every runtime a subject runs in, in one table, and the one call that loads a subject as the
benches see it.

A subject is a model (ModelSpec) in a configuration (RunConfig); `config.runtime` names its
runtime. RUNTIMES maps each runtime to its loader, `(spec, config, settings) -> loaded subject`,
with the configuration applied: attention kernel, dtype and device map at load, quantization and
torch.compile after it (timed apart, in `transform_seconds`). Every loaded subject has
`describe()` (its entry in the report's `models` section) and may have `close()` (a server
stops). The bench fixtures call `load_subject`, and so can plain Python:

    from lmgauge.runtimes import LoadSettings, load_subject
    from lmgauge.sources.configs import parse_config
    from lmgauge.sources.models import resolve

    loaded = load_subject(resolve("smollm2-135m"), parse_config("int8"), LoadSettings())

(`threads` reaches llama.cpp and servers; torch's own thread count is the caller's to set, as the
benches set it from --threads.) A loaded subject has `runtime` (its key here), `spec`, `name`,
`task` and `describe()`, which the fixtures and benches read.

Adding a runtime (ONNX Runtime or OpenVINO, say): a module with its loaded-subject class and its
loader; one line in RUNTIMES; its name in lmgauge.sources.configs (a runtime constant and a
preset that names it); its `timed_generate` (below), which puts it into bench_generate's
test_generate; and benches marked `runtime("<name>")` for the figures that only it has. What
is not one interface yet: the quality benches (perplexity, known answers, fidelity) read logits
and text in each runtime's own way, in bench_quality and bench_llamacpp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmgauge.errors import NotApplicable
from lmgauge.sources.configs import LLAMACPP, SERVE, TRANSFORMERS, ConfigError, RunConfig
from lmgauge.sources.models import ModelSpec


@dataclass(frozen=True)
class LoadSettings:
    """What a run gives every subject: `device` and `dtype` (torch objects; None: the CPU and
    float32) unless the configuration names its own, `threads` for native runtimes and servers,
    where a started server writes its log (`server_log_prefix`, one file per subject beside it),
    and the URL of a server that runs already (`endpoint`, for --endpoint)."""

    device: Any = None
    dtype: Any = None
    threads: int = 1
    server_log_prefix: Path = Path("reports") / "servers" / "run"
    endpoint: str | None = None


def load_transformers(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """The model's files through transformers, configured; a LoadedModel."""
    import torch

    from lmgauge.sources import loading
    from lmgauge.sources.transforms import apply_config

    device = settings.device or torch.device("cpu")
    loaded = loading.load(spec, device, settings.dtype or torch.float32, config)
    apply_config(loaded)
    return loaded


def load_llama(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """The model's GGUF file in llama.cpp, after a child process ran it without crashing."""
    from lmgauge.sources.llamacpp import load_llamacpp

    return load_llamacpp(spec, settings.threads)


def load_served(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """The model behind its server, started and serving (or the --endpoint, reached)."""
    from lmgauge.serve.subject import serve_subject

    return serve_subject(spec, config, settings.threads, settings.server_log_prefix,
                         settings.endpoint)  # fmt: skip


@dataclass
class TimedGenerate:
    """One shape of a subject's timed greedy generation, as bench_generate times it: `call()`
    generates `new_tokens` tokens after a `prompt_tokens`-token prompt from an empty cache and
    returns the GenerationTiming (time to first token, every decode step, end to end, in
    seconds); `counters` gathers, per call, what the runtime measured of it itself (llama.cpp's
    own perf counters; empty for runtimes that count nothing); `label` names the runtime in the
    benchmark group."""

    call: Callable
    label: str
    counters: list = field(default_factory=list)


def transformers_generate(loaded, prompt_tokens: int, new_tokens: int) -> TimedGenerate:
    """`generate` with lmgauge's step timer (lmgauge.measure.generation) on seeded prompt ids."""
    from lmgauge.measure.generation import timed_generate
    from lmgauge.sources.prompts import context_shortfall, model_inputs, pad_token_id

    if reason := context_shortfall(loaded, prompt_tokens + new_tokens):
        raise NotApplicable(reason)
    ids, mask = model_inputs(loaded, prompt_tokens)
    pad = pad_token_id(loaded.tokenizer, loaded.model.config)
    return TimedGenerate(
        lambda: timed_generate(loaded.model, ids, mask, new_tokens, loaded.device, pad)[0],
        "transformers",
    )


def llama_generate(loaded, prompt_tokens: int, new_tokens: int) -> TimedGenerate:
    """llama.cpp's token loop, each token stamped as it comes (lmgauge.measure.llamacpp_timing),
    on seeded prompt ids; each call's perf counters kept."""
    from lmgauge.measure.llamacpp_timing import timed_llamacpp_generate
    from lmgauge.sources.prompts import prompt_ids

    llama = loaded.llama
    if prompt_tokens + new_tokens > llama.n_ctx():
        raise NotApplicable(f"{prompt_tokens} + {new_tokens} tokens exceed the context of "
                            f"{llama.n_ctx()}")  # fmt: skip
    prompt = prompt_ids(None, prompt_tokens, llama.n_vocab())[0].tolist()
    generate = TimedGenerate(None, "llamacpp")

    def call():
        timing, perf, _ = timed_llamacpp_generate(llama, prompt, new_tokens)
        generate.counters.append(perf)
        return timing

    generate.call = call
    return generate


@dataclass(frozen=True)
class Runtime:
    """`load(spec, config, settings)` -> the loaded subject; `timed_generate(loaded,
    prompt_tokens, new_tokens)` -> TimedGenerate, NotApplicable when the shape does not fit, or
    None where bench_generate does not time this runtime (a server is timed under load)."""

    load: Callable
    timed_generate: Callable | None = None


RUNTIMES: dict[str, Runtime] = {
    TRANSFORMERS: Runtime(load_transformers, transformers_generate),
    LLAMACPP: Runtime(load_llama, llama_generate),
    SERVE: Runtime(load_served),
}
GENERATING = tuple(name for name, runtime in RUNTIMES.items() if runtime.timed_generate)
"""The runtimes bench_generate times."""


def timed_generate(loaded, prompt_tokens: int, new_tokens: int) -> TimedGenerate:
    """The timed generation of one shape by `loaded` (its `runtime` attribute says which
    runtime); NotApplicable when the runtime is not one of GENERATING or the shape does not fit
    the context: for transformers the model's positions, for llama.cpp the context it was
    opened with (2048 tokens; llama.cpp only warns past the file's trained context)."""
    generate = RUNTIMES[loaded.runtime].timed_generate
    if generate is None:
        raise NotApplicable(f"the {loaded.runtime} runtime does not generate in lmgauge's process; "
                            f"runtimes that do: {', '.join(GENERATING)}.")  # fmt: skip
    return generate(loaded, prompt_tokens, new_tokens)


def load_subject(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """`spec` loaded in `config`'s runtime with the configuration applied. RuntimeMissing when
    the runtime is not installed, NotApplicable when it cannot run this model, ModelLoadError
    when loading fails, ConfigError for a runtime not in RUNTIMES: each one sentence."""
    runtime = RUNTIMES.get(config.runtime)
    if runtime is None:
        raise ConfigError(
            f"configuration '{config.name}' names the runtime '{config.runtime}', which lmgauge "
            f"does not have; runtimes: {', '.join(RUNTIMES)}."
        )
    return runtime.load(spec, config, settings)
