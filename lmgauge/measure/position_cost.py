"""What one generation step costs at each position, with and without a KV cache.

A step at length n produces token n + 1 from n tokens. Without a cache (the course's
`generate`, or transformers' with `use_cache=False`) it is a forward over all n tokens, asking
for the last position's logits only; with a cache it is a forward of one token against a cache
of n - 1 tokens, built by an untimed prefill and, after each timed step, cropped back to n - 1
tokens for the next (a new prefill only where the cache cannot be cropped). Both return the same
logits. Lengths on one machine are measured interleaved (no-cache, cached, at each length in
turn, `repeats` times), so that a slow spell hits both modes.

Per-step work of a decoder of L layers, width d, body matmul parameters B and head parameters H
(lmgauge.model.roofline), with 4 L d n FLOPs of attention per token attending over n:

- no cache: 2 B n + 2 H + 4 L d n(n + 1)/2 FLOPs, weights read once: time grows as n, then as
  n^2 once attention dominates (n comparable to 6 d);
- cached: 2 (B + H) + 4 L d n FLOPs, weights plus the cache (n x KV bytes per token) read:
  flat while the weights dominate the bytes, growing as n once the cache does.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from inspect import signature

from lmgauge.measure.kv_cache import cache_keyword, cache_of, keeps_kv_cache
from lmgauge.measure.timing import synchronizer

NO_CACHE = "no"
CACHED = "yes"


@dataclass(frozen=True)
class PositionCosts:
    """seconds[mode][n]: every timed step at length n (mode NO_CACHE or CACHED)."""

    seconds: dict[str, dict[int, list[float]]]

    def medians(self, mode: str) -> dict[int, float]:
        return {n: statistics.median(times) for n, times in self.seconds[mode].items()}


def doubling_lengths(shortest: int, longest: int) -> list[int]:
    """shortest, 2 shortest, 4 shortest, ... below `longest`, then `longest` itself."""
    lengths, n = [], shortest
    while n < longest:
        lengths.append(n)
        n *= 2
    return [*lengths, longest]


def measure_position_costs(model, vocab: int, lengths: list[int], repeats: int, device,
                           seed: int = 0) -> PositionCosts:  # fmt: skip
    """Time `repeats` steps at each length in both modes (cached only when the model keeps a
    cache), on token ids drawn from a seeded generator."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (1, max(lengths)), generator=generator).to(device)
    modes = [NO_CACHE, CACHED] if keeps_kv_cache(model) else [NO_CACHE]
    steps = {NO_CACHE: no_cache_step, CACHED: cached_step}
    seconds = {mode: {n: [] for n in lengths} for mode in modes}
    sync = synchronizer(device)
    caches: dict[int, object] = {}
    with torch.inference_mode():
        for mode in modes:
            steps[mode](model, ids[:, :8], sync, {})  # warm the code path
        for _ in range(repeats):
            for n in lengths:
                for mode in modes:
                    seconds[mode][n].append(steps[mode](model, ids[:, :n], sync, caches))
    return PositionCosts(seconds)


def last_logits_only(model) -> dict:
    """`logits_to_keep=1` where the model's forward takes it (as `generate` asks), else {}."""
    return {"logits_to_keep": 1} if "logits_to_keep" in signature(model.forward).parameters else {}


def no_cache_step(model, ids, sync, caches: dict) -> float:
    keep = last_logits_only(model)
    sync()
    started = time.perf_counter()
    model(input_ids=ids, use_cache=False, **keep)
    sync()
    return time.perf_counter() - started


def cached_step(model, ids, sync, caches: dict) -> float:
    """The step at length n = ids' length, against the cache of its first n - 1 tokens: built
    by an untimed prefill the first time, then taken from `caches` (by n), where the step's
    cache is kept cropped back to n - 1 tokens when it can be (transformers' DynamicCache.crop):
    the same cache as a fresh prefill gives, without running the prefill again."""
    keep = last_logits_only(model)
    n = ids.shape[1]
    cache = caches.pop(n, None)
    if cache is None:
        cache = cache_of(model(input_ids=ids[:, :-1], use_cache=True, **keep))
    sync()
    started = time.perf_counter()
    output = model(input_ids=ids[:, -1:], use_cache=True, **keep, **{cache_keyword(model): cache})
    sync()
    seconds = time.perf_counter() - started
    if cropped_back(cache_of(output), n - 1):
        caches[n] = cache_of(output)
    return seconds


def cropped_back(cache, length: int) -> bool:
    """Crop a cache in place to its first `length` tokens (transformers' `crop` takes the
    negative count of tokens to remove); False when it cannot be."""
    crop = getattr(cache, "crop", None)
    if crop is None:
        return False
    extra = cache.get_seq_length() - length
    if extra > 0:
        try:
            crop(-extra)
        except (ValueError, RuntimeError):
            return False
    return cache.get_seq_length() == length


def step_bound_s(cost, layers: int, width: int, n: int, cached: bool, calibration) -> float:
    """Roofline time (s) of the step at length n (module docstring), attention included."""
    if cached:
        flops = 2 * cost.matmul_parameters + 4 * layers * width * n
        read = cost.weight_bytes + (n - 1) * cost.kv_bytes_per_token
    else:
        flops = 2 * cost.body_parameters * n + 2 * cost.head_parameters
        flops += 4 * layers * width * n * (n + 1) / 2
        read = cost.weight_bytes
    return max(flops / calibration.matmul_flops_per_s, read / calibration.bandwidth_bytes_per_s)
