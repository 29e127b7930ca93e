"""Every runtime a subject runs in, in one table, and the one call that loads a subject as the
benches see it.

A subject is a model (ModelSpec) in a configuration (RunConfig); `config.runtime` names its
runtime. RUNTIMES maps each runtime to its loader, `(spec, config, settings) -> loaded subject`,
with the configuration applied: attention kernel, dtype and device map at load, quantization and
torch.compile after it (timed apart, in `transform_seconds`). Every loaded subject has
`describe()` (its entry in the report's `models` section) and may have `close()` (a server
stops). The bench fixtures call `load_subject`, and so can plain Python:

    from lmgauge.sources.configs import parse_config
    from lmgauge.sources.models import resolve
    from lmgauge.runtimes import LoadSettings, load_subject

    loaded = load_subject(resolve("smollm2-135m"), parse_config("int8"), LoadSettings(threads=2))

Adding a runtime (ONNX Runtime or OpenVINO, say): a module with its loaded-subject class and its
loader; one line in RUNTIMES; its name in lmgauge.sources.configs (a runtime constant and a
preset that names it); and benches marked `runtime("<name>")` for its figures. What is not one
interface yet: the timed generate loops of transformers (lmgauge.measure.generation) and of
llama.cpp (lmgauge.measure.llamacpp_timing) are two, each with its own generate bench, and the
quality benches read logits in each runtime's own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


RUNTIMES: dict[str, Callable] = {
    TRANSFORMERS: load_transformers,
    LLAMACPP: load_llama,
    SERVE: load_served,
}


def load_subject(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """`spec` loaded in `config`'s runtime with the configuration applied. RuntimeMissing when
    the runtime is not installed, NotApplicable when it cannot run this model, ModelLoadError
    when loading fails: each one sentence."""
    loader = RUNTIMES.get(config.runtime)
    if loader is None:
        raise ConfigError(
            f"configuration '{config.name}' names the runtime '{config.runtime}', which lmgauge "
            f"does not have; runtimes: {', '.join(RUNTIMES)}."
        )
    return loader(spec, config, settings)
