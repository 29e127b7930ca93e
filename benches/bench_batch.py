"""Batch scaling: throughput, per-sequence latency and efficiency from batch 1 to 16, where
throughput saturates and where memory runs out; and the course's comparison of one batch
against the same prompts run one by one."""

from __future__ import annotations

import pytest

from lmgauge.measure.batching import (
    batch_inputs,
    batch_keeps_outputs,
    is_out_of_memory,
    prompt_lengths,
    release_memory,
    timed_call,
)
from lmgauge.sources.models import CAUSAL_LM

BATCH_SIZES = (1, 2, 4, 8, 16)
NEW_TOKENS = 16
SATURATION = 0.9


@pytest.mark.slow
def test_batch_scaling(loaded_model, record, rounds, judge_timing, axis):
    """Batch sizes: BATCH_SIZES or --batch-sizes, always with batch 1 (the efficiencies'
    reference)."""
    causal = loaded_model.task == CAUSAL_LM
    metric = "batch_throughput" if causal else "batch_sequence_throughput"
    throughput, largest = {}, 0
    for batch in sorted({1, *axis("batch_sizes", BATCH_SIZES)}):
        units = batch * NEW_TOKENS if causal else batch
        latencies = measure_batch(loaded_model, batch, rounds)
        if latencies is None:
            release_memory(loaded_model.device)
            record("batch_out_of_memory", batch)
            break
        largest = batch
        record("batch_latency_seconds", samples=latencies, batch=batch)
        samples = [units / seconds for seconds in latencies]
        throughput[batch] = record(metric, samples=samples, batch=batch).value
    for batch, value in throughput.items():
        record("batch_scaling_efficiency", value / (batch * throughput[1]), batch=batch)
    best = max(throughput.values())
    record("batch_saturation", min(b for b, v in throughput.items() if v >= SATURATION * best))
    record("largest_batch_that_fit", largest)
    judge_timing(throughput[largest] > throughput[1], "batching did not raise throughput")


def measure_batch(loaded_model, batch: int, rounds: int) -> list[float] | None:
    """`rounds` latencies of one batch after a warmup call (s); None when it ran out of memory
    (the error, its traceback and the batch's tensors are let go before returning)."""
    try:
        call = timed_call(
            loaded_model, *batch_inputs(loaded_model, prompt_lengths(loaded_model, batch)),
            NEW_TOKENS,
        )  # fmt: skip
        call()
        return [call() for _ in range(rounds)]
    except (RuntimeError, MemoryError) as error:
        if not is_out_of_memory(error):
            raise
    return None


def test_batched_vs_sequential(loaded_model, record, judge_timing):
    """Four prompts as one batch against the same four run one at a time (the course's demo)."""
    count, new_tokens = 4, 8
    lengths = prompt_lengths(loaded_model, count)
    ids, mask = batch_inputs(loaded_model, lengths)
    batched = timed_call(loaded_model, ids, mask, new_tokens)
    singles = [
        timed_call(
            loaded_model, ids[row : row + 1, -length:], mask[row : row + 1, -length:], new_tokens
        )
        for row, length in enumerate(lengths)
    ]
    batched()
    one_by_one = sum(call() for call in singles)
    together = batched()
    speedup = record(
        "batched_vs_sequential_speedup", one_by_one / together, batch=count, new_tokens=new_tokens
    )
    if loaded_model.task == CAUSAL_LM:
        judge_timing(
            speedup.value > 1,
            f"one batch was {speedup.value:.2f}x as fast as the prompts one by one, though it "
            f"reads the weights once per step for all of them",
        )
    else:
        assert batch_keeps_outputs(loaded_model.model, ids, mask), "batching changed the outputs"
