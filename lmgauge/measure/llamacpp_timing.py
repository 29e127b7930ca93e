"""Timing of greedy generation in llama.cpp, with llama.cpp's own counters beside it.

Our clock stamps each token as llama-cpp-python's `generate` yields it: the first stamp ends
the prefill (time to first token), each later gap is one decode step (one single-token
`llama_decode` plus greedy sampling). llama.cpp's performance counters (`llama_perf_context`,
reset before each call) time the same evaluations inside the library: `t_eval_ms / n_eval` is
its own per-token decode time, the independent figure our decode step is checked against.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from lmgauge.measure.generation import GenerationTiming

GREEDY = {
    "top_k": 1, "top_p": 1.0, "min_p": 0.0, "typical_p": 1.0, "temp": 0.0,
    "repeat_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0, "tfs_z": 1.0,
    "mirostat_mode": 0,
}  # fmt: skip
"""Every setting of llama-cpp-python's generate that shapes the next token, stated: greedy,
no penalties (its defaults are top_k 40, top_p 0.95, min_p 0.05, temperature 0.8)."""


@dataclass(frozen=True)
class LlamaPerf:
    """llama.cpp's counters for one call: prompt_ms over prompt_tokens prompt tokens, and
    eval_ms over evals single-token evaluations, in milliseconds."""

    prompt_ms: float
    prompt_tokens: int
    eval_ms: float
    evals: int

    @property
    def decode_step_s(self) -> float:
        """llama.cpp's mean time of one single-token evaluation, in seconds."""
        return self.eval_ms / self.evals / 1e3 if self.evals else 0.0


def timed_llamacpp_generate(llama, prompt: list[int], new_tokens: int):
    """Greedy generation of exactly `new_tokens` tokens after `prompt` (token ids) from an
    empty KV cache; returns (GenerationTiming, LlamaPerf, generated token ids)."""
    import llama_cpp

    llama.reset()
    llama_cpp.llama_perf_context_reset(llama.ctx)
    stamps, tokens = [], []
    started = time.perf_counter()
    for token in llama.generate(prompt, reset=True, **GREEDY):
        stamps.append(time.perf_counter())
        tokens.append(token)
        if len(tokens) == new_tokens:
            break
    finished = time.perf_counter()
    counters = llama_cpp.llama_perf_context(llama.ctx)
    perf = LlamaPerf(
        prompt_ms=counters.t_p_eval_ms,
        prompt_tokens=counters.n_p_eval,
        eval_ms=counters.t_eval_ms,
        evals=counters.n_eval,
    )
    timing = GenerationTiming(
        batch=1,
        prompt_tokens=len(prompt),
        new_tokens=new_tokens,
        prefill_s=stamps[0] - started,
        step_s=tuple(later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)),
        end_to_end_s=finished - started,
    )
    return timing, perf, tokens


def llamacpp_logits(scorer, ids: list[list[int]]) -> Iterator:
    """Float32 logits (tokens x vocab, torch tensors) of each id list, in order, from a
    llama.cpp context created with logits_all=True, one text at a time from an empty cache."""
    import torch

    for row in ids:
        scorer.reset()
        scorer.eval(row)
        yield torch.from_numpy(scorer.scores[: len(row)].copy())
