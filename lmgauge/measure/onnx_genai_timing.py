"""ONNX Runtime GenAI's token loop, timed per token, and its logits.

`append_tokens` runs the prompt (the prefill) and leaves the first token's logits; each
`generate_next_token` then picks a token from the logits it has (the first call: from the
prefill's) and, from the second call on, first runs the model on the token picked before: one
decode step. So the clock is stamped after each call: the first stamp ends the time to first
token, each later gap is one decode step, as lmgauge.measure.generation stamps `generate`.
"""

from __future__ import annotations

import time

from lmgauge.measure.generation import GenerationTiming


def generator(model, length: int, fixed: bool):
    """A greedy Generator for `length` tokens in all (prompt included); `fixed`: the end of
    sequence token is forbidden until then (min_length), so every call does the same work."""
    import onnxruntime_genai as genai

    params = genai.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=length, min_length=length if fixed else 0,
                              repetition_penalty=1.0, no_repeat_ngram_size=0)  # fmt: skip
    return genai.Generator(model, params)


def timed_genai_generate(model, prompt: list[int], new_tokens: int, fixed: bool = True):
    """Greedy generation of `new_tokens` tokens after `prompt` (stopping early at the end of
    sequence token unless `fixed`); returns (GenerationTiming, the new token ids)."""
    stamps, tokens = [], []
    running = generator(model, len(prompt) + new_tokens, fixed)
    started = time.perf_counter()
    running.append_tokens(prompt)
    while len(tokens) < new_tokens and not (tokens and running.is_done()):
        running.generate_next_token()
        stamps.append(time.perf_counter())
        tokens.append(int(running.get_next_tokens()[0]))
    if fixed and len(tokens) != new_tokens:
        raise RuntimeError(f"ONNX Runtime GenAI produced {len(tokens)} tokens, expected "
                           f"{new_tokens}")  # fmt: skip
    timing = GenerationTiming(
        batch=1,
        prompt_tokens=len(prompt),
        new_tokens=len(tokens),
        prefill_s=stamps[0] - started,
        step_s=tuple(later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)),
        end_to_end_s=stamps[-1] - started,
    )
    return timing, tokens


def genai_logits(model, ids: list[list[int]]):
    """Float32 CPU logits (tokens x vocab) of each id list, one text at a time from an empty
    cache: the prefill's logits of every position."""
    import numpy as np
    import torch

    for row in ids:
        running = generator(model, len(row) + 1, fixed=False)
        running.append_tokens(row)
        logits = np.asarray(running.get_output("logits"), dtype=np.float32)
        yield torch.from_numpy(logits.reshape(-1, logits.shape[-1])[-len(row) :].copy())
