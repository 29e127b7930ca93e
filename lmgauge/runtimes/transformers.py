"""transformers as a runtime: the model's files loaded by lmgauge.sources.loading, configured
(attention kernel, dtype and device map at load; quantization and torch.compile after it)."""

from __future__ import annotations

from collections.abc import Iterator

from lmgauge.errors import NotApplicable
from lmgauge.runtimes.interface import (
    LoadSettings,
    Runtime,
    TimedGenerate,
    check_ids,
    check_prompt_tokens,
)
from lmgauge.sources.configs import RunConfig
from lmgauge.sources.models import ModelSpec


def load(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """A LoadedModel with `config` applied (timed apart, in `transform_seconds`)."""
    import torch

    from lmgauge.sources import loading
    from lmgauge.sources.transforms import apply_config

    device = settings.device or torch.device("cpu")
    loaded = loading.load(spec, device, settings.dtype or torch.float32, config)
    apply_config(loaded)
    return loaded


def timed_generate(loaded, prompt_tokens: int, new_tokens: int) -> TimedGenerate:
    """`generate` with lmgauge's step timer (lmgauge.measure.generation) on seeded prompt ids;
    NotApplicable past the model's positions."""
    from lmgauge.measure.generation import timed_generate as step_timed_generate
    from lmgauge.sources.prompts import context_shortfall, model_inputs, pad_token_id

    if reason := context_shortfall(loaded, prompt_tokens + new_tokens):
        raise NotApplicable(reason)
    ids, mask = model_inputs(loaded, prompt_tokens)
    pad = pad_token_id(loaded.tokenizer, loaded.model.config)
    call = lambda: step_timed_generate(loaded.model, ids, mask, new_tokens, loaded.device, pad)[0]  # noqa: E731
    return TimedGenerate(call, "transformers")


def require_tokenizer(loaded) -> None:
    if loaded.tokenizer is None:
        raise NotApplicable(f"{loaded.name} has no tokenizer, so it cannot read or write text")


def token_ids(loaded, texts: list[str]) -> list[list[int]]:
    """Each text's ids as the model's tokenizer makes them by default (BOS when it adds one)."""
    require_tokenizer(loaded)
    return [loaded.tokenizer(text)["input_ids"] for text in texts]


def logits(loaded, ids: list[list[int]], batch_size: int = 1) -> Iterator:
    """Float32 CPU logits of each id list (lmgauge.quality.fidelity.causal_logits)."""
    from lmgauge.quality.fidelity import causal_logits
    from lmgauge.sources.prompts import context_shortfall

    check_ids(ids, loaded.model.get_input_embeddings().num_embeddings)
    if reason := context_shortfall(loaded, max((len(row) for row in ids), default=0)):
        raise NotApplicable(reason)
    return causal_logits(loaded.model, ids, loaded.device, batch_size)


def greedy_texts(loaded, prompts: list[str], new_tokens: int) -> list[str]:
    """Greedy continuations through `generate` (lmgauge.quality.textgen.continue_texts);
    ValueError for a prompt without tokens, NotApplicable past the model's positions."""
    from lmgauge.quality.textgen import continue_texts
    from lmgauge.sources.prompts import context_shortfall

    require_tokenizer(loaded)
    prompt_tokens = token_ids(loaded, prompts)
    check_prompt_tokens(prompt_tokens)
    if reason := context_shortfall(loaded, max(map(len, prompt_tokens), default=0) + new_tokens):
        raise NotApplicable(reason)
    return continue_texts(loaded, prompts, new_tokens) if prompts else []


RUNTIME = Runtime(load, timed_generate, token_ids, logits, greedy_texts)
