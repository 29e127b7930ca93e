"""Position costs (with and without a KV cache) and training steps, on tiny models: the fits
and interpolations, which modes each model gets, the roofline's growth, and what a training
step leaves (the measured model unchanged, a falling loss, activations cut by checkpointing)."""

from __future__ import annotations

import pytest
import torch

from lmgauge.measure.position_cost import (
    CACHED,
    NO_CACHE,
    doubling_lengths,
    measure_position_costs,
    step_bound_s,
)
from lmgauge.measure.training import TrainSetup, train_steps, training_batch
from lmgauge.model.roofline import ModelCost
from lmgauge.record.fits import power_law, tenfold_length
from tests.test_scratch_gpt import SMALL, hf_twin
from tests.test_scratch_source import small_pair

CPU = torch.device("cpu")


def test_doubling_lengths_end_at_the_longest():
    assert doubling_lengths(8, 100) == [8, 16, 32, 64, 100]
    assert doubling_lengths(8, 64) == [8, 16, 32, 64]


def test_a_power_law_is_recovered_from_its_points():
    lengths = [8, 16, 32, 64]
    exponent, coefficient = power_law(lengths, [3e-4 * n**1.5 for n in lengths])
    assert exponent == pytest.approx(1.5) and coefficient == pytest.approx(3e-4)


def test_the_tenfold_length_is_interpolated_between_measured_lengths():
    cached = {16: 1.0, 32: 1.0, 64: 1.0}
    assert tenfold_length({16: 4.0, 32: 8.0, 64: 16.0}, cached) == pytest.approx(
        32 * 2**0.322, rel=1e-2
    )
    assert tenfold_length({16: 12.0, 32: 20.0, 64: 40.0}, cached) == 16.0
    assert tenfold_length({16: 2.0, 32: 3.0, 64: 4.0}, cached) is None


def test_a_model_with_a_cache_is_timed_both_ways_and_one_without_only_recomputing():
    scratch, twin = small_pair()
    for model, modes in ((twin, {NO_CACHE, CACHED}), (scratch, {NO_CACHE})):
        costs = measure_position_costs(model, SMALL.vocab_size, [8, 16], 2, CPU)
        assert set(costs.seconds) == modes
        assert all(len(times) == 2 and min(times) > 0 for mode in modes
                   for times in costs.seconds[mode].values())  # fmt: skip


def test_a_cropped_cache_is_the_prefills_cache_again():
    """The cached step reuses its cache cropped back to n - 1 tokens instead of a new prefill:
    the next step on it gives the logits of a step on a fresh prefill."""
    from lmgauge.measure.kv_cache import cache_keyword, cache_of
    from lmgauge.measure.position_cost import cached_step, cropped_back

    _, twin = small_pair()
    ids = torch.randint(0, SMALL.vocab_size, (1, 12), generator=torch.Generator().manual_seed(0))
    caches = {}
    with torch.inference_mode():
        cached_step(twin, ids, lambda: None, caches)
        assert 12 in caches and caches[12].get_seq_length() == 11, "kept, cropped back"
        cached_step(twin, ids, lambda: None, caches)
        assert caches[12].get_seq_length() == 11
        fresh = cache_of(twin(input_ids=ids[:, :-1], use_cache=True))
        expected = twin(input_ids=ids[:, -1:], **{cache_keyword(twin): fresh}).logits
        reused = twin(input_ids=ids[:, -1:], **{cache_keyword(twin): caches[12]}).logits
    torch.testing.assert_close(reused, expected)
    assert not cropped_back(("a", "tuple"), 3), "a cache without crop is prefilled again"


def test_the_no_cache_bound_outgrows_the_cached_bound():
    cost = ModelCost(body_parameters=85_000_000, head_parameters=38_000_000,
                     weight_bytes=492_000_000, kv_bytes_per_token=73_728)  # fmt: skip

    class Roofs:
        matmul_flops_per_s, bandwidth_bytes_per_s = 2e11, 1e10

    def bound(n, cached):
        return step_bound_s(cost, 12, 768, n, cached, Roofs)

    assert bound(1024, False) / bound(512, False) > 2.0, "attention makes it more than linear"
    assert 1.0 < bound(1024, True) / bound(512, True) < 1.1, "the weights dominate the bytes"


def test_a_training_step_trains_a_copy_and_checkpointing_cuts_saved_activations():
    model = hf_twin(SMALL)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ids = training_batch(SMALL.vocab_size, 2, 16, CPU)
    plain = train_steps(model, ids, TrainSetup("baseline"), 3, True, CPU)
    checkpointed = train_steps(model, ids, TrainSetup("c", checkpointing=True), 3, True, CPU)
    fused = train_steps(model, ids, TrainSetup("f", optimizer="fused"), 3, True, CPU)
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert len(plain.step_s) == 3 and len(plain.losses) == 4 and plain.tokens == 32
    assert plain.losses[-1] < plain.losses[0]
    assert checkpointed.losses == pytest.approx(plain.losses, rel=1e-5)
    assert fused.losses == pytest.approx(plain.losses, rel=1e-4)
    assert 0 < checkpointed.activation_bytes < plain.activation_bytes
    kept_inputs = SMALL.layers * ids.numel() * SMALL.width * 4
    assert checkpointed.activation_bytes >= kept_inputs, "each layer's input is kept"


def test_a_float16_model_takes_the_grad_scaler_lever_on_float32_master_weights():
    """It raised "Attempting to unscale FP16 gradients" before (CUDA's float16 lever; the CPU
    grad scaler does the same unscaling)."""
    model = hf_twin(SMALL).half()
    ids = training_batch(SMALL.vocab_size, 2, 16, CPU)
    run = train_steps(model, ids, TrainSetup("f16", autocast="float16"), 2, True, CPU)
    assert len(run.step_s) == 2 and all(map(torch.isfinite, map(torch.tensor, run.losses)))
    assert next(model.parameters()).dtype == torch.float16, "the measured model is unchanged"


def test_the_scratch_gpt_checkpoints_its_own_blocks():
    scratch, _ = small_pair()
    ids = training_batch(SMALL.vocab_size, 2, 16, CPU)
    plain = train_steps(scratch, ids, TrainSetup("baseline"), 1, True, CPU)
    checkpointed = train_steps(scratch, ids, TrainSetup("c", checkpointing=True), 1, True, CPU)
    assert checkpointed.activation_bytes < plain.activation_bytes
    width = scratch.gpt.config.width
    assert checkpointed.activation_bytes >= len(scratch.gpt.blocks) * ids.numel() * width * 4
    assert not scratch.gpt.checkpointing, "the measured model itself was switched"


def test_an_unknown_adamw_implementation_is_one_sentence():
    with pytest.raises(ValueError, match="unknown AdamW implementation 'sgd'"):
        train_steps(hf_twin(SMALL), training_batch(SMALL.vocab_size, 1, 4, CPU),
                    TrainSetup("x", optimizer="sgd"), 1, True, CPU)  # fmt: skip


def test_the_inputs_a_checkpoint_keeps_are_counted_exactly():
    """Issue 20 said the count missed the input each checkpointed layer keeps for its recompute.
    Checked: torch's checkpoint saves that input through save_for_backward, which the
    saved-tensor hooks see, so it was counted (8 x 64 float32 here, where it is all there is);
    this keeps it so."""
    from torch.utils.checkpoint import checkpoint

    from lmgauge.measure.training import saved_for_backward

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(64, 64)
            self.gradient_checkpointing = True

        def forward(self, x):
            return self.linear(x).relu()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x):
            return checkpoint(self.block, x, use_reentrant=False)

    net, x = Net(), torch.randn(8, 64)
    with saved_for_backward(net) as saved:
        loss = net(x).sum()
    loss.backward()
    assert saved.bytes == 8 * 64 * 4
