"""llama.cpp as a runtime: a model's GGUF file run as quantized through llama-cpp-python
(lmgauge.sources.llamacpp), after a child process has run it without crashing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lmgauge.errors import ModelLoadError, NotApplicable
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
    """A LlamaCppModel on the model's GGUF file with `settings.threads` threads."""
    from lmgauge.sources.llamacpp import load_llamacpp

    return load_llamacpp(spec, settings.threads)


def check_context(llama, prompt_tokens: int, new_tokens: int) -> None:
    """NotApplicable when a prompt and its new tokens exceed the context the generator was
    opened with or the file's trained context, whichever is shorter."""
    trained = llama._model.n_ctx_train()
    if prompt_tokens + new_tokens > min(llama.n_ctx(), trained):
        raise NotApplicable(
            f"{prompt_tokens} + {new_tokens} tokens exceed llama.cpp's context of "
            f"{llama.n_ctx()} or the file's trained context of {trained}"
        )


def timed_generate(loaded, prompt_tokens: int, new_tokens: int) -> TimedGenerate:
    """llama.cpp's token loop, each token stamped as it comes (lmgauge.measure.llamacpp_timing),
    on seeded prompt ids; each call's perf counters kept. NotApplicable past the context the
    generator was opened with (2048 tokens) or past the file's trained context, whichever is
    shorter (llama.cpp itself only warns past the trained one)."""
    from lmgauge.measure.llamacpp_timing import timed_llamacpp_generate
    from lmgauge.sources.prompts import prompt_ids

    llama = loaded.llama
    check_context(llama, prompt_tokens, new_tokens)
    prompt = prompt_ids(None, prompt_tokens, llama.n_vocab())[0].tolist()
    generate = TimedGenerate(None, "llamacpp")

    def call():
        timing, perf, _ = timed_llamacpp_generate(llama, prompt, new_tokens)
        generate.counters.append(perf)
        return timing

    generate.call = call
    return generate


_TOKENIZERS: dict[tuple[str, str], Any] = {}
"""The transformers tokenizer of each model's files, by (source, location), loaded once."""


def token_ids(loaded, texts: list[str]) -> list[list[int]]:
    """The ids the transformers tokenizer of the same files makes (as it does by default: no
    BOS for SmolLM2), so that a perplexity here is over the same tokens as in transformers;
    NotApplicable when the model has no such tokenizer."""
    from lmgauge.sources.loading import reference_tokenizer

    key = (loaded.spec.source, loaded.spec.location)
    try:
        if key not in _TOKENIZERS:
            _TOKENIZERS[key] = reference_tokenizer(loaded.spec)
        tokenizer = _TOKENIZERS[key]
    except ModelLoadError as error:
        raise NotApplicable(f"no transformers tokenizer to make the same token ids with: "
                            f"{error}") from None  # fmt: skip
    if tokenizer is None:
        raise NotApplicable(f"{loaded.name} has no transformers tokenizer to make the same token "
                            f"ids with")  # fmt: skip
    return [tokenizer(text)["input_ids"] for text in texts]


def logits(loaded, ids: list[list[int]], batch_size: int = 1) -> Iterator:
    """Float32 CPU logits of each id list, one text at a time from an empty cache, in a second
    llama.cpp context that keeps every position's logits (freed with the iterator; batch_size
    is ignored). NotApplicable for a text longer than that context."""
    from lmgauge.measure.llamacpp_timing import llamacpp_logits
    from lmgauge.sources.llamacpp import SCORER_CONTEXT_TOKENS

    check_ids(ids, loaded.llama.n_vocab())
    longest = max((len(row) for row in ids), default=0)
    if longest > SCORER_CONTEXT_TOKENS:
        raise NotApplicable(f"a text of {longest} tokens is longer than llama.cpp's scoring "
                            f"context of {SCORER_CONTEXT_TOKENS}")  # fmt: skip
    return llamacpp_logits(loaded.scorer(), ids)


def greedy_texts(loaded, prompts: list[str], new_tokens: int) -> list[str]:
    """Each prompt (its GGUF tokens, no BOS) continued greedily, one at a time, cut at the end
    of sequence token; ValueError for a prompt without tokens, NotApplicable past the
    context."""
    from lmgauge.measure.llamacpp_timing import timed_llamacpp_generate

    prompt_tokens = [loaded.tokenize(prompt) for prompt in prompts]
    check_prompt_tokens(prompt_tokens)
    for tokens in prompt_tokens:
        check_context(loaded.llama, len(tokens), new_tokens)
    texts = []
    for prompt in prompt_tokens:
        _, _, tokens = timed_llamacpp_generate(loaded.llama, prompt, new_tokens)
        if loaded.llama.token_eos() in tokens:
            tokens = tokens[: tokens.index(loaded.llama.token_eos())]
        texts.append(loaded.detokenize(tokens))
    return texts


RUNTIME = Runtime(load, timed_generate, token_ids, logits, greedy_texts)
