"""Batched inputs and calls for batch-scaling benches: ragged prompt lengths, left-padded inputs
on the model's device, one timed (batched) call, and telling out-of-memory apart."""

from __future__ import annotations

import random
from collections.abc import Callable

from lmgauge.measure.generation import timed_generate
from lmgauge.measure.timing import timed_forward
from lmgauge.sources.models import CAUSAL_LM
from lmgauge.sources.prompts import pad_token_id, ragged_batch

ENCODER_SEQ_LEN = 128
SHORTEST_PROMPT, LONGEST_PROMPT = 24, 40


def prompt_lengths(loaded_model, count: int, seed: int = 0) -> list[int]:
    """Causal LMs: seeded lengths of 24 to 40 tokens, as a real ragged batch has.
    Encoders: ENCODER_SEQ_LEN for every sequence."""
    if loaded_model.task != CAUSAL_LM:
        return [ENCODER_SEQ_LEN] * count
    generator = random.Random(seed)
    return [generator.randint(SHORTEST_PROMPT, LONGEST_PROMPT) for _ in range(count)]


def batch_inputs(loaded_model, lengths: list[int]):
    """Left-padded (input_ids, attention_mask) for prompts of these lengths, on the model's
    device."""
    model, tokenizer = loaded_model.model, loaded_model.tokenizer
    vocab = model.get_input_embeddings().weight.shape[0]
    ids, mask = ragged_batch(tokenizer, lengths, vocab, pad_token_id(tokenizer, model.config))
    return ids.to(loaded_model.device), mask.to(loaded_model.device)


def timed_call(loaded_model, ids, mask, new_tokens: int) -> Callable[[], float]:
    """A function that runs one (batched) call on these inputs (on the model's device, as
    batch_inputs makes them) and returns its wall time in s: `generate` of `new_tokens` tokens
    for a causal LM, one forward pass for an encoder."""
    model, device = loaded_model.model, loaded_model.device
    if loaded_model.task == CAUSAL_LM:
        pad = pad_token_id(loaded_model.tokenizer, model.config)
        return lambda: timed_generate(model, ids, mask, new_tokens, device, pad)[0].end_to_end_s
    return lambda: timed_forward(model, ids, mask, device)


BATCH_TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 5e-2}
"""How far (relative to the largest magnitude of the outputs) a batch's hidden states may be
from the same rows run alone, per dtype: kernels differ by batch size (on GPUs above all), and
in half precision one rounding step of bfloat16 is 2^-8 = 0.4 % of a value."""


def batch_keeps_outputs(model, ids, mask, tolerance: float | None = None) -> bool:
    """Whether an encoder's last hidden states for a batch of unpadded rows equal those of each
    row run alone, within `tolerance` x the largest absolute output (BATCH_TOLERANCE for the
    outputs' dtype unless given)."""
    import torch

    with torch.inference_mode():
        whole = model(input_ids=ids, attention_mask=mask)[0]
        rows = torch.cat([model(input_ids=ids[r : r + 1])[0] for r in range(ids.shape[0])])
    dtype = str(whole.dtype).removeprefix("torch.")
    allowed = (tolerance or BATCH_TOLERANCE.get(dtype, 1e-4)) * float(rows.abs().max())
    return float((whole.float() - rows.float()).abs().max()) <= allowed


def release_memory(device) -> None:
    """After an out-of-memory error has been let go (outside its except block, so its traceback
    and the tensors its frames hold are gone): collect garbage and, on CUDA, hand the cached
    blocks back, so the figures measured next start from a clean device."""
    import gc

    import torch

    gc.collect()
    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` says the device (or the host) ran out of memory."""
    import torch

    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(error)
