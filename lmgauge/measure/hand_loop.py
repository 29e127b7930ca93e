"""A minimal hand-written greedy decode loop, timed per step: the reference that the step timer
inside `generate` (lmgauge.measure.generation) is checked against; and running two such
measurements in alternating order, so that a slow spell of the machine hits both sides."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from lmgauge.measure.kv_cache import cache_keyword, cache_of
from lmgauge.measure.timing import synchronizer


@dataclass(frozen=True)
class HandLoop:
    """tokens: the new token ids (the prefill's token first); step_s: seconds of each decode
    step after the prefill, one per token but the first."""

    tokens: list[int]
    step_s: list[float]


def greedy_hand_loop(model, ids, mask, new_tokens: int, device) -> HandLoop:
    """Greedy decoding written by hand for one prompt (batch 1): a prefill, then one forward per
    new token with the KV cache and the attention mask grown by one, then argmax."""
    import torch

    sync = synchronizer(device)
    keyword = cache_keyword(model)
    steps = []
    with torch.inference_mode():
        output = model(input_ids=ids, attention_mask=mask, use_cache=True)
        cache, token = cache_of(output), output.logits[:, -1:].argmax(-1)
        tokens = [int(token)]
        sync()
        for _ in range(new_tokens - 1):
            started = time.perf_counter()
            mask = torch.cat([mask, torch.ones_like(token)], dim=1)
            output = model(input_ids=token, attention_mask=mask, use_cache=True, **{keyword: cache})
            cache, token = cache_of(output), output.logits[:, -1:].argmax(-1)
            sync()
            steps.append(time.perf_counter() - started)
            tokens.append(int(token))
    return HandLoop(tokens, steps)


def alternate(first: Callable[[], object], second: Callable[[], object], rounds: int) -> list:
    """`rounds` pairs (first's result, second's result), run in the order A B, B A, A B, ..."""
    pairs = []
    for index in range(rounds):
        if index % 2 == 0:
            a = first()
            b = second()
        else:
            b = second()
            a = first()
        pairs.append((a, b))
    return pairs


def median_paired_ratio(pairs: list[tuple[list[float], list[float]]]) -> float:
    """The median over pairs of (median of the first side / median of the second side)."""
    return statistics.median(statistics.median(a) / statistics.median(b) for a, b in pairs)
