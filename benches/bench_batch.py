"""Batch scaling: throughput, per-sequence latency and efficiency from batch 1 to 16, where
throughput saturates and where memory runs out; and the course's comparison of one batch
against the same prompts run one by one."""

from __future__ import annotations

import random

import pytest
import torch

from lmgauge.measure.generation import timed_generate
from lmgauge.measure.timing import timed_forward
from lmgauge.sources.models import CAUSAL_LM
from lmgauge.sources.prompts import pad_token_id, ragged_batch

BATCH_SIZES = (1, 2, 4, 8, 16)
NEW_TOKENS = 16
ENCODER_SEQ_LEN = 128
SATURATION = 0.9


def prompt_lengths(loaded_model, count: int, seed: int = 0) -> list[int]:
    """Causal LMs: seeded lengths of 24 to 40 tokens, as a real ragged batch has.
    Encoders: ENCODER_SEQ_LEN for every sequence."""
    if loaded_model.task != CAUSAL_LM:
        return [ENCODER_SEQ_LEN] * count
    generator = random.Random(seed)
    return [generator.randint(24, 40) for _ in range(count)]


def timed_call(loaded_model, ids, mask, new_tokens: int):
    """A function that runs one (batched) call on these inputs and returns its wall time in s."""
    model, device = loaded_model.model, loaded_model.device
    ids, mask = ids.to(device), mask.to(device)
    if loaded_model.task == CAUSAL_LM:
        pad = pad_token_id(loaded_model.tokenizer, model.config)
        return lambda: timed_generate(model, ids, mask, new_tokens, device, pad)[0].end_to_end_s

    return lambda: timed_forward(model, ids, mask, device)


def batch_inputs(loaded_model, lengths: list[int]):
    """Left-padded ids and attention mask for prompts of these lengths."""
    model, tokenizer = loaded_model.model, loaded_model.tokenizer
    vocab = model.get_input_embeddings().weight.shape[0]
    return ragged_batch(tokenizer, lengths, vocab, pad_token_id(tokenizer, model.config))


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(error)


@pytest.mark.slow
def test_batch_scaling(loaded_model, record, rounds, judge_timing):
    causal = loaded_model.task == CAUSAL_LM
    metric = "batch_throughput" if causal else "batch_sequence_throughput"
    throughput, largest = {}, 0
    for batch in BATCH_SIZES:
        units = batch * NEW_TOKENS if causal else batch
        try:
            call = timed_call(
                loaded_model,
                *batch_inputs(loaded_model, prompt_lengths(loaded_model, batch)),
                NEW_TOKENS,
            )
            call()
            latencies = [call() for _ in range(rounds)]
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
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
        with torch.inference_mode():
            whole = loaded_model.model(input_ids=ids, attention_mask=mask)[0]
            rows = [loaded_model.model(input_ids=ids[r : r + 1])[0] for r in range(count)]
        assert torch.allclose(whole, torch.cat(rows), atol=1e-4), "batching changed the outputs"
