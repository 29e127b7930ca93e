"""Fidelity of each configuration to the float32 eager reference of the same model, so that a
fast configuration that broke the model fails in the run that measured its speed. Causal LMs
are compared in every runtime that gives logits (lmgauge.runtimes.SCORING).

The reference runs the same token ids once per model (lmgauge.quality.fidelity). Thresholds
are for every model (`model = "*"` in benches/thresholds.toml), and each has a broken control
it must reject: the reference with naively quantized weights (one int8 or int4 scale per whole
tensor, embeddings and head included), run on the first 8 fidelity texts (CONTROL_TEXTS). The
default configuration is measured too: its
attention kernel may differ from the reference's.
"""

from __future__ import annotations

import pytest

from lmgauge import runtimes
from lmgauge.pytest_plugin.quality_fixtures import require_real_weights
from lmgauge.quality.fidelity import (
    CAUSAL_FIGURES,
    ENCODER_FIGURES,
    compare_logits,
    compare_pooled,
    pooled_states,
)


@pytest.mark.causal_lm
@pytest.mark.runtime(*runtimes.SCORING)
def test_next_token_fidelity(loaded_model, fidelity_reference, check_fidelity, record):
    """The reference's token ids through the subject's runtime, one text at a time (for
    llama.cpp on smollm2-135m the reference is the same Q4_1 weights de-quantised, so the gap is
    llama.cpp's arithmetic)."""
    require_real_weights(loaded_model)
    reference = fidelity_reference(loaded_model)
    logits = runtimes.logits(loaded_model, reference.ids)
    measured = compare_logits(reference.outputs, logits, reference.ids)
    record("fidelity_positions", measured.positions)
    check_fidelity(measured, reference, CAUSAL_FIGURES)


@pytest.mark.encoder
def test_embedding_fidelity(loaded_model, fidelity_reference, check_fidelity, record):
    require_real_weights(loaded_model)
    reference = fidelity_reference(loaded_model)
    pooled = pooled_states(loaded_model.model, reference.ids, loaded_model.device)
    measured = compare_pooled(reference.outputs, pooled)
    record("embedding_mean_cosine", measured.mean_cosine)
    check_fidelity(measured, reference, ENCODER_FIGURES)
