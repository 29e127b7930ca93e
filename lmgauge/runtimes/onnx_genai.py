"""ONNX Runtime GenAI as a runtime: the model exported once by onnxruntime-genai's model builder
(lmgauge.sources.onnx_genai), timed per token (lmgauge.measure.onnx_genai_timing), its logits
scored on the ids of the transformers tokenizer of the same files, which the subject carries
(so token_ids is transformers' own)."""

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
from lmgauge.runtimes.transformers import token_ids
from lmgauge.sources.configs import RunConfig
from lmgauge.sources.models import ModelSpec


def load(spec: ModelSpec, config: RunConfig, settings: LoadSettings):
    """An OnnxGenAiModel of `spec` with `settings.threads` intra-op threads."""
    from lmgauge.sources.onnx_genai import load_onnx_genai

    return load_onnx_genai(spec, settings.threads)


def check_context(loaded, tokens: int) -> None:
    if tokens > loaded.context:
        raise NotApplicable(f"{tokens} tokens exceed the exported model's context of "
                            f"{loaded.context}")  # fmt: skip


def timed_generate(loaded, prompt_tokens: int, new_tokens: int) -> TimedGenerate:
    """The GenAI token loop, each token stamped as it comes, on seeded prompt ids."""
    from lmgauge.measure.onnx_genai_timing import timed_genai_generate
    from lmgauge.sources.prompts import prompt_ids

    check_context(loaded, prompt_tokens + new_tokens)
    prompt = prompt_ids(None, prompt_tokens, loaded.vocabulary)[0].tolist()
    return TimedGenerate(lambda: timed_genai_generate(loaded.model, prompt, new_tokens)[0],
                         "onnx-genai")  # fmt: skip


def logits(loaded, ids: list[list[int]], batch_size: int = 1) -> Iterator:
    """Float32 CPU logits of each id list, one text at a time (batch_size is ignored)."""
    from lmgauge.measure.onnx_genai_timing import genai_logits

    check_ids(ids, loaded.vocabulary)
    check_context(loaded, max((len(row) for row in ids), default=0))
    return genai_logits(loaded.model, ids)


def greedy_texts(loaded, prompts: list[str], new_tokens: int) -> list[str]:
    """Each prompt (the transformers tokenizer's ids) continued greedily, one at a time, cut at
    the end of sequence token, decoded without special tokens."""
    from lmgauge.measure.onnx_genai_timing import timed_genai_generate

    prompt_tokens = token_ids(loaded, prompts)
    check_prompt_tokens(prompt_tokens)
    for tokens in prompt_tokens:
        check_context(loaded, len(tokens) + new_tokens)
    texts = []
    for prompt in prompt_tokens:
        _, tokens = timed_genai_generate(loaded.model, prompt, new_tokens, fixed=False)
        texts.append(loaded.tokenizer.decode(tokens, skip_special_tokens=True))
    return texts


RUNTIME = Runtime(load, timed_generate, token_ids, logits, greedy_texts)
