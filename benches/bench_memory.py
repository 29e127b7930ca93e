"""Memory: the model at rest against its weights, peaks during a forward pass and generation,
and the growth of the key/value cache with sequence length."""

from __future__ import annotations

import pytest
import torch

from lmgauge.measure.generation import timed_generate
from lmgauge.measure.kv_cache import cache_of, keeps_kv_cache
from lmgauge.measure.memory import cache_bytes, track_memory
from lmgauge.model import anatomy
from lmgauge.model.roofline import kv_bytes_per_token
from lmgauge.sources.prompts import model_inputs, pad_token_id

FORWARD_TOKENS = 128
KV_LENGTHS = (32, 64, 128, 256)


def peak_of(reading, device) -> tuple[int, str]:
    """The peak growth to record and which memory it is (`rss` or `cuda-allocated`)."""
    return reading.device_peak_growth_bytes, reading.device_memory_kind


@pytest.mark.slow
def test_resident_memory(loaded_model, cold_loads, record):
    if loaded_model.device.type != "cpu":
        pytest.skip("weights live on the GPU; host resident memory does not hold them")
    (run,) = cold_loads(1)
    weights = sum(anatomy.bytes_by_dtype(loaded_model.model).values())
    record("resident_weights_bytes", run.resident_growth_bytes)
    record("resident_overhead_ratio", run.resident_growth_bytes / weights)
    assert run.resident_growth_bytes >= 0.9 * weights, "the weights are not resident after use"


def test_forward_peak(loaded_model, record):
    ids, mask = model_inputs(loaded_model, FORWARD_TOKENS)
    with torch.inference_mode():
        loaded_model.model(input_ids=ids, attention_mask=mask)
        with track_memory(loaded_model.device) as tracker:
            output = loaded_model.model(input_ids=ids, attention_mask=mask)
    peak, memory = peak_of(tracker.reading, loaded_model.device)
    record("forward_peak_bytes", peak, batch=1, seq_len=FORWARD_TOKENS, memory=memory)
    first = output[0]
    assert peak >= first.numel() * first.element_size(), "the peak misses the output it returned"


@pytest.mark.causal_lm
def test_generate_peak(loaded_model, record):
    new_tokens = 32
    ids, mask = model_inputs(loaded_model, FORWARD_TOKENS)
    pad = pad_token_id(loaded_model.tokenizer, loaded_model.model.config)
    with track_memory(loaded_model.device) as tracker:
        timed_generate(loaded_model.model, ids, mask, new_tokens, loaded_model.device, pad)
    peak, memory = peak_of(tracker.reading, loaded_model.device)
    record(
        "generate_peak_bytes",
        peak,
        prompt_tokens=FORWARD_TOKENS,
        new_tokens=new_tokens,
        memory=memory,
    )
    if keeps_kv_cache(loaded_model.model):
        cached = (FORWARD_TOKENS + new_tokens - 1) * kv_bytes_per_token(
            loaded_model.model.config, loaded_model.dtype.itemsize
        )
        assert peak >= cached, "the peak misses the KV cache generation had to hold"


@pytest.mark.causal_lm
def test_kv_cache_growth(loaded_model, record):
    model = loaded_model.model
    if not keeps_kv_cache(model):
        pytest.skip(f"{loaded_model.name} keeps no KV cache: it recomputes the prefix each step")
    limit = getattr(model.config, "max_position_embeddings", max(KV_LENGTHS))
    lengths = [length for length in KV_LENGTHS if length <= limit]
    measured = {}
    for length in lengths:
        ids, mask = model_inputs(loaded_model, length)
        with torch.inference_mode():
            cache = cache_of(model(input_ids=ids, attention_mask=mask, use_cache=True))
        measured[length] = cache_bytes(cache)
        record("kv_cache_bytes", measured[length], seq_len=length)
        del cache
    per_token = kv_bytes_per_token(model.config, loaded_model.dtype.itemsize)
    record("kv_cache_bytes_per_token", per_token)
    assert measured == {length: length * per_token for length in lengths}
