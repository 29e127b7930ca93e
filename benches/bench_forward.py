"""Encoder latency: one forward pass at fixed sequence lengths, next to its roofline bound."""

from __future__ import annotations

import pytest

from lmgauge.measure.rounds import run_rounds
from lmgauge.measure.timing import timed_forward
from lmgauge.model.roofline import ROOF_BROKEN, ROOF_TOLERANCE, configured_cost, forward_bound_s
from lmgauge.sources.prompts import context_shortfall, model_inputs

pytestmark = pytest.mark.encoder

SEQ_LENGTHS = [16, 128, pytest.param(512, marks=pytest.mark.slow)]


@pytest.mark.sweep(seq_len=SEQ_LENGTHS)
def test_forward(
    loaded_model, benchmark, record, round_policy, speed_probe, calibration, judge_timing, seq_len
):
    model, device = loaded_model.model, loaded_model.device
    if reason := context_shortfall(loaded_model, seq_len):
        pytest.skip(reason)
    ids, mask = model_inputs(loaded_model, seq_len)

    def forward() -> float:
        return timed_forward(model, ids, mask, device)

    benchmark.group = f"forward seq_len={seq_len}"
    measured = run_rounds(
        benchmark, forward, round_policy, lambda times: {"forward": times}, speed_probe.probe
    )
    timed = measured.results
    shape = {"batch": 1, "seq_len": seq_len}
    per_round = {"probe_seconds": measured.probe_seconds, "stopped": measured.stopped}
    record("warmup_call_seconds", measured.warmup, **shape)
    latency = record("forward_seconds", samples=timed, **per_round, **shape)
    record("sequences_per_second", samples=[1 / seconds for seconds in timed], **per_round, **shape)
    benchmark.extra_info.update(model=loaded_model.name, **shape, forward_s=latency.summary)
    cost = configured_cost(loaded_model, causal=False)
    if cost is None or calibration is None:
        return
    bound = forward_bound_s(cost, 1, seq_len, calibration)
    record("forward_bound_seconds", bound, **shape)
    record("forward_roofline_efficiency", bound / latency.value, **shape)
    benchmark.extra_info.update(forward_bound_s=bound)
    efficiency = bound / latency.value
    judge_timing(efficiency <= ROOF_TOLERANCE, f"{ROOF_BROKEN} ({efficiency:.2f})")
