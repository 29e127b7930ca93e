"""What a runtime gives lmgauge: the settings every subject is loaded with, the shape of a timed
generation, and the Runtime record of one runtime's calls (lmgauge.runtimes.RUNTIMES)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


@dataclass(frozen=True)
class Runtime:
    """One runtime's calls. Only `load` is required; a call a runtime lacks is None, and the
    benches that need it do not measure that runtime's subjects.

    load(spec, config, settings) -> the loaded subject, configured.
    timed_generate(loaded, prompt_tokens, new_tokens) -> TimedGenerate (greedy, seeded prompt
        ids), NotApplicable when the shape does not fit the context.
    token_ids(loaded, texts) -> each text's token ids as the model's transformers tokenizer
        makes them by default: what perplexity scores, the same ids in every runtime.
    logits(loaded, ids, batch_size) -> an iterator of float32 CPU tensors (tokens x vocab), one
        per id list, in order, each from an empty cache; batch_size > 1 lets a runtime pad
        (right, masked) several texts into one pass; 1 is exact, one pass per text.
    greedy_texts(loaded, prompts, new_tokens) -> each prompt's greedy continuation as text
        (prompt not included, special tokens dropped, stopped at new_tokens or end of sequence).
    """

    load: Callable
    timed_generate: Callable | None = None
    token_ids: Callable | None = None
    logits: Callable | None = None
    greedy_texts: Callable | None = None


def token_id(token) -> int:
    """`token` as an int when it is a whole number (int, numpy or 0-d torch integer), else
    ValueError naming it and why it is not a token id (a float, bool or text)."""
    if isinstance(token, bool):
        raise ValueError(f"{token!r}, which is not a token id (a bool)")
    try:
        return operator.index(token)
    except TypeError:
        raise ValueError(f"{token!r}, which is not a token id (ids are whole numbers)") from None


def check_ids(ids, vocabulary: int) -> None:
    """ValueError in one sentence unless `ids` is a list of id lists, every list non-empty and
    every id a token of a `vocabulary`-token model (a whole number from 0 to vocabulary - 1)."""
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
        raise ValueError(f"ids must be a list of id lists, one per text, not {type(ids).__name__}.")
    for index, row in enumerate(ids):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise ValueError(f"id list {index} is {row!r} ({type(row).__name__}), not a list of "
                             f"token ids (ids are a list of id lists, one per text).")  # fmt: skip
        if len(row) == 0:
            raise ValueError(f"id list {index} is empty; a text to score needs at least one token.")
        for token in row:
            try:
                value = token_id(token)
            except ValueError as error:
                raise ValueError(f"id list {index} holds {error}.") from None
            if not 0 <= value < vocabulary:
                raise ValueError(f"id list {index} holds {value}, which is not a token id of "
                                 f"this model (0 to {vocabulary - 1}).")  # fmt: skip


def check_counts(**counts) -> None:
    """ValueError in one sentence unless every named count is a whole number (int or numpy
    integer, not bool) of at least 1."""
    for name, value in counts.items():
        try:
            whole = not isinstance(value, bool) and operator.index(value) >= 1
        except TypeError:
            whole = False
        if not whole:
            raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")


def check_prompts(prompts) -> None:
    """ValueError in one sentence unless `prompts` is a list of non-empty texts."""
    if isinstance(prompts, (str, bytes)) or not hasattr(prompts, "__len__"):
        raise ValueError(f"prompts must be a list of texts, not {type(prompts).__name__}.")
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise ValueError(f"prompt {index} is {prompt!r} ({type(prompt).__name__}), not text.")
        if not prompt:
            raise ValueError(f"prompt {index} is empty; a greedy continuation needs a prompt.")


def check_prompt_tokens(prompt_tokens: list) -> None:
    """ValueError in one sentence when a prompt made no tokens (a runtime's own tokenization of
    each prompt, in order): there is nothing to continue."""
    for index, tokens in enumerate(prompt_tokens):
        if len(tokens) == 0:
            raise ValueError(f"prompt {index} makes no tokens, so it has nothing to continue.")
