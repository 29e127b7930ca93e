"""Generation latency of causal LMs: prefill (time to first token), every decode step, end to
end, tokens/s, each next to its roofline bound; and a cross-check of the step timer against a
minimal hand-written decode loop."""

from __future__ import annotations

import time

import pytest
import torch

from lmgauge.measure.generation import timed_generate
from lmgauge.measure.rounds import cold_then_rounds
from lmgauge.measure.timing import synchronizer
from lmgauge.prompts import pad_token_id, prompt_ids
from lmgauge.roofline import (
    ROOF_BROKEN,
    ROOF_TOLERANCE,
    decode_step_bound_s,
    forward_bound_s,
    model_cost,
)

pytestmark = pytest.mark.causal_lm

PROMPT_TOKENS = [
    pytest.param(16, marks=pytest.mark.slow),
    128,
    pytest.param(512, marks=pytest.mark.slow),
]
NEW_TOKENS = [32, pytest.param(128, marks=pytest.mark.slow)]
HAND_LOOP_AGREEMENT = 0.05


def prepared_prompt(loaded_model, tokens: int):
    vocab = loaded_model.model.get_input_embeddings().weight.shape[0]
    ids = prompt_ids(loaded_model.tokenizer, tokens, vocab).to(loaded_model.device)
    return ids, torch.ones_like(ids)


@pytest.mark.parametrize("new_tokens", NEW_TOKENS)
@pytest.mark.parametrize("prompt_tokens", PROMPT_TOKENS)
def test_generate(loaded_model, benchmark, record, rounds, calibration, prompt_tokens, new_tokens):
    model, device = loaded_model.model, loaded_model.device
    ids, mask = prepared_prompt(loaded_model, prompt_tokens)
    pad = pad_token_id(loaded_model.tokenizer, model.config)
    benchmark.group = f"generate prompt={prompt_tokens} new={new_tokens}"
    cold, timed = cold_then_rounds(
        benchmark, lambda: timed_generate(model, ids, mask, new_tokens, device, pad)[0], rounds
    )
    shape = {"batch": 1, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens}
    steps = [step for timing in timed for step in timing.step_s]
    record("cold_start_seconds", cold.end_to_end_s, **shape)
    ttft = record("ttft_seconds", samples=[t.prefill_s for t in timed], **shape)
    step = record("decode_step_seconds", samples=steps, **shape)
    record("end_to_end_seconds", samples=[t.end_to_end_s for t in timed], **shape)
    record("decode_tokens_per_second", samples=[t.decode_tokens_per_s for t in timed], **shape)
    record("prefill_tokens_per_second", samples=[t.prefill_tokens_per_s for t in timed], **shape)

    cost = model_cost(model, loaded_model.dtype, causal=True)
    decode_bound = decode_step_bound_s(cost, 1, prompt_tokens + new_tokens / 2, calibration)
    prefill_bound = forward_bound_s(cost, 1, prompt_tokens, calibration)
    record("decode_step_bound_seconds", decode_bound, **shape)
    record("decode_roofline_efficiency", decode_bound / step.value, **shape)
    record("prefill_bound_seconds", prefill_bound, **shape)
    record("prefill_roofline_efficiency", prefill_bound / ttft.value, **shape)
    benchmark.extra_info.update(
        model=loaded_model.name,
        weights=loaded_model.spec.weights,
        **shape,
        ttft_s=ttft.summary,
        decode_step_s=step.summary,
        decode_step_bound_s=decode_bound,
        prefill_bound_s=prefill_bound,
    )
    assert all(len(t.step_s) == new_tokens - 1 for t in [cold, *timed])
    for efficiency in (decode_bound / step.value, prefill_bound / ttft.value):
        assert efficiency <= ROOF_TOLERANCE, ROOF_BROKEN


def hand_loop_steps(model, ids, new_tokens: int, device) -> list[float]:
    """Decode step times (s) of greedy decoding written by hand: one forward per token."""
    sync = synchronizer(device)
    steps = []
    with torch.inference_mode():
        output = model(input_ids=ids, use_cache=True)
        cache, token = output.past_key_values, output.logits[:, -1:].argmax(-1)
        sync()
        for _ in range(new_tokens - 1):
            started = time.perf_counter()
            output = model(input_ids=token, past_key_values=cache, use_cache=True)
            cache, token = output.past_key_values, output.logits[:, -1:].argmax(-1)
            sync()
            steps.append(time.perf_counter() - started)
    return steps


def test_decode_step_agrees_with_a_hand_written_loop(loaded_model, record, rounds):
    """The step timer inside generate and a bare loop must agree on a decode step (median).

    Run for real-weight models only: generate adds about 2 ms of bookkeeping per step on a
    2-core CPU, which is under 5 % of a step only for models of SmolLM2's size and up, and the
    synthetic GPT-2 twins are timed by the same tracker on the same code path.
    """
    if loaded_model.spec.weights != "real":
        pytest.skip("the timer cross-check runs on real-weight models; this one is synthetic")
    model, device = loaded_model.model, loaded_model.device
    ids, mask = prepared_prompt(loaded_model, 64)
    pad = pad_token_id(loaded_model.tokenizer, model.config)
    new_tokens = 24
    generate_steps, hand_steps = [], []
    hand_loop_steps(model, ids, 4, device)
    for _ in range(rounds):
        generate_steps += timed_generate(model, ids, mask, new_tokens, device, pad)[0].step_s
        hand_steps += hand_loop_steps(model, ids, new_tokens, device)
    shape = {"batch": 1, "prompt_tokens": 64, "new_tokens": new_tokens}
    generated = record("decode_step_seconds", samples=generate_steps, check="hand-loop", **shape)
    hand = record("hand_loop_decode_step_seconds", samples=hand_steps, **shape)
    ratio = generated.value / hand.value
    assert abs(ratio - 1) <= HAND_LOOP_AGREEMENT, (
        f"generate's median decode step is {ratio:.3f}x the hand-written loop's "
        f"({generated.value * 1e3:.2f} ms vs {hand.value * 1e3:.2f} ms)"
    )
