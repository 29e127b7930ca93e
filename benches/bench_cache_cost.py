"""The cost of having no KV cache: the time of one generation step against its position, with
the cache (transformers' decode step) and without (a forward over the whole prefix, as the
course's from-scratch `generate` runs it), the power law each follows, what the roofline
predicts of each, and the position where recomputing costs ten times the cached step."""

from __future__ import annotations

import pytest

from lmgauge.measure.position_cost import (
    CACHED,
    NO_CACHE,
    doubling_lengths,
    measure_position_costs,
    step_bound_s,
)
from lmgauge.model.roofline import ROOF_BROKEN, ROOF_TOLERANCE, configured_cost
from lmgauge.record.fits import fitted_exponent, tenfold_length

pytestmark = pytest.mark.causal_lm

SHORTEST = 8
QUICK_LONGEST, SLOW_LONGEST = 128, 1024
LONGEST = [QUICK_LONGEST, pytest.param(SLOW_LONGEST, marks=pytest.mark.slow)]
"""The longest step length measured (capped by the model's context): 128 in the quick tier,
1024 (GPT-2's whole context) in the slow tier."""


@pytest.mark.parametrize("longest", LONGEST)
def test_step_cost_by_position(loaded_model, record, rounds, calibration, judge_timing, longest):
    model, config = loaded_model.model, loaded_model.model.config
    limit = getattr(config, "max_position_embeddings", longest)
    if longest > QUICK_LONGEST >= limit:
        pytest.skip(f"{loaded_model.name} holds {limit} positions: its {longest}-position sweep "
                    f"is the {QUICK_LONGEST}-position one, measured already")  # fmt: skip
    longest = min(longest, limit)
    lengths = doubling_lengths(SHORTEST, longest)
    vocab = model.get_input_embeddings().weight.shape[0]
    costs = measure_position_costs(model, vocab, lengths, rounds, loaded_model.device)
    cost = configured_cost(loaded_model, causal=True)
    exponents = {}
    for mode, times in costs.seconds.items():
        bounds = {} if cost is None or calibration is None else {
            n: step_bound_s(cost, config.num_hidden_layers, config.hidden_size, n,
                            mode == CACHED, calibration)
            for n in lengths
        }  # fmt: skip
        for n in lengths:
            step = record("position_step_seconds", samples=times[n], cache=mode, length=n,
                          longest=longest)  # fmt: skip
            if n in bounds:
                record("position_step_bound_seconds", bounds[n], cache=mode, length=n,
                       longest=longest)  # fmt: skip
                efficiency = bounds[n] / step.value
                judge_timing(efficiency <= ROOF_TOLERANCE, f"{ROOF_BROKEN} ({efficiency:.2f})")
        exponents[mode] = fitted_exponent(costs.medians(mode))
        record("position_step_exponent", exponents[mode], cache=mode, longest=longest)
        if bounds:
            record("position_step_bound_exponent", fitted_exponent(bounds), cache=mode,
                   longest=longest)  # fmt: skip
    if CACHED in costs.seconds:
        no_cache, cached = costs.medians(NO_CACHE), costs.medians(CACHED)
        record("no_cache_step_ratio", no_cache[longest] / cached[longest], length=longest)
        tenfold = tenfold_length(no_cache, cached)
        if tenfold is not None:
            record("tenfold_position", tenfold, longest=longest)
        judge_timing(
            exponents[NO_CACHE] > exponents[CACHED],
            f"the no-cache step grew as n^{exponents[NO_CACHE]:.2f}, no faster than the cached "
            f"step's n^{exponents[CACHED]:.2f}",
        )
