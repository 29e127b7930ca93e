"""What a runtime gives lmgauge: the settings every subject is loaded with, the shape of a timed
generation, and the Runtime record of one runtime's calls (lmgauge.runtimes.RUNTIMES)."""

from __future__ import annotations

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


def check_ids(ids: list[list[int]], vocabulary: int) -> None:
    """ValueError in one sentence unless every id list is non-empty and every id is a token of
    a `vocabulary`-token model (0 to vocabulary - 1)."""
    for index, row in enumerate(ids):
        if len(row) == 0:
            raise ValueError(f"id list {index} is empty; a text to score needs at least one token.")
        outside = [token for token in row if not 0 <= int(token) < vocabulary]
        if outside:
            raise ValueError(f"id list {index} holds {outside[0]}, which is not a token id of "
                             f"this model (0 to {vocabulary - 1}).")  # fmt: skip


def check_lengths(**lengths: int) -> None:
    """ValueError in one sentence unless every named count is a whole number of at least 1."""
    for name, value in lengths.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
