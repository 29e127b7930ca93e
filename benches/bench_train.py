"""The cost of a training step (forward, backward, AdamW) for every model, and each lever that
trades it: gradient checkpointing (memory saved, time paid), autocast to a 16-bit float (time,
memory, and the loss it changes after a fixed number of steps), and AdamW's fused and for-loop
implementations against its default (foreach).

All setups start from the same weights and train on the same batch. The baseline runs first
and again last; each lever is compared with the median over both baseline runs, so that a
machine slowing down during the bench moves the baseline with it."""

from __future__ import annotations

import statistics

import pytest

from lmgauge.measure.training import TrainSetup, train_step_bound_s, train_steps, training_batch
from lmgauge.model.anatomy import total_parameters
from lmgauge.model.roofline import ROOF_BROKEN, ROOF_TOLERANCE, configured_cost
from lmgauge.sources.models import CAUSAL_LM

pytestmark = pytest.mark.slow

BATCH, LENGTH = 4, 64
BASELINE = TrainSetup("baseline")
LEVERS = (
    TrainSetup("checkpointing", checkpointing=True),
    TrainSetup("autocast-bfloat16", autocast="bfloat16"),
    TrainSetup("adamw-fused", optimizer="fused"),
    TrainSetup("adamw-for-loop", optimizer="for-loop"),
)
CUDA_LEVERS = (TrainSetup("autocast-float16", autocast="float16"),)
"""float16 autocast needs a gradient scaler and is run on CUDA only (CPU autocast is bfloat16)."""


def test_training_step(loaded_model, record, rounds, calibration, judge_timing):
    if loaded_model.config.quantization or loaded_model.config.compile:
        pytest.skip(f"configuration '{loaded_model.config.name}' is for inference; training "
                    "steps are measured on the plain weights")  # fmt: skip
    model, device = loaded_model.model, loaded_model.device
    causal = loaded_model.task == CAUSAL_LM
    ids = training_batch(model.get_input_embeddings().weight.shape[0], BATCH, LENGTH, device)
    levers = LEVERS + (CUDA_LEVERS if device.type == "cuda" else ())
    steps = max(rounds, 3)
    first = train_steps(model, ids, BASELINE, steps, causal, device)
    runs = {lever.name: train_steps(model, ids, lever, steps, causal, device) for lever in levers}
    last = train_steps(model, ids, BASELINE, steps, causal, device)
    baseline_s = statistics.median(first.step_s + last.step_s)
    shape = {"batch": BATCH, "length": LENGTH}
    for name, run in {"baseline": first, **runs}.items():
        blocks = [first.step_s, last.step_s] if name == "baseline" else [run.step_s]
        step_samples = [seconds for block in blocks for seconds in block]
        # consecutive steps share their block's state: each block is one independent unit
        step = record("train_step_seconds", samples=step_samples,
                      rounds=[statistics.median(block) for block in blocks], lever=name, **shape)
        record("train_tokens_per_second", samples=[run.tokens / s for s in step_samples],
               rounds=[run.tokens / statistics.median(block) for block in blocks],
               lever=name, **shape)  # fmt: skip
        record("train_peak_growth_bytes", run.peak_growth_bytes, lever=name, **shape)
        record("train_activation_bytes", run.activation_bytes, lever=name, **shape)
        if name != "baseline":
            record("train_lever_time_ratio", step.value / baseline_s, lever=name, **shape)
            record("train_lever_activation_saved_bytes",
                   first.activation_bytes - run.activation_bytes, lever=name, **shape)  # fmt: skip
            record("train_loss_difference", abs(run.losses[-1] - first.losses[-1]),
                   lever=name, steps=steps, **shape)  # fmt: skip
    if calibration is not None:
        cost = configured_cost(loaded_model, causal)
        bound = train_step_bound_s(cost, total_parameters(model), BATCH * LENGTH, calibration)
        record("train_step_bound_seconds", bound, **shape)
        efficiency = record("train_roofline_efficiency", bound / baseline_s, **shape).value
        judge_timing(efficiency <= ROOF_TOLERANCE, f"{ROOF_BROKEN} ({efficiency:.2f})")
    assert first.losses[-1] < first.losses[0], (
        f"the loss did not fall over {steps + 1} steps on one batch "
        f"({first.losses[0]:.3f} -> {first.losses[-1]:.3f})"
    )
    assert runs["checkpointing"].activation_bytes < first.activation_bytes, (
        "gradient checkpointing saved no activation memory"
    )
    assert first.losses == pytest.approx(last.losses, rel=1e-4), (
        "two baseline runs from the same weights on the same batch gave different losses"
    )
