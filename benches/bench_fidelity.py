"""Fidelity of each configuration to the float32 eager reference of the same model, so that a
fast configuration that broke the model fails in the run that measured its speed.

The reference runs the same token ids once per model (lmgauge.quality.fidelity). Thresholds
are for every model (`model = "*"` in benches/thresholds.toml), and each has a broken control
it must reject: the reference with naively quantized weights (one int8 or int4 scale per whole
tensor, embeddings and head included). The default configuration is measured too: its
attention kernel may differ from the reference's.
"""

from __future__ import annotations

import pytest

from lmgauge.pytest_plugin.quality_fixtures import require_real_weights
from lmgauge.quality.fidelity import (
    CAUSAL_FIGURES,
    ENCODER_FIGURES,
    causal_logits,
    compare_logits,
    compare_pooled,
    judge_fidelity,
    pooled_states,
)
from lmgauge.quality.thresholds import find


@pytest.mark.causal_lm
def test_next_token_fidelity(
    loaded_model, fidelity_reference, thresholds, record, record_judged
):  # fmt: skip
    require_real_weights(loaded_model)
    reference = fidelity_reference(loaded_model.spec)
    logits = causal_logits(loaded_model.model, reference.ids, loaded_model.device)
    measured = compare_logits(reference.outputs, logits, reference.ids)
    record("fidelity_positions", measured.positions)
    wrong = judge_fidelity(
        measured, reference.controls, CAUSAL_FIGURES,
        lambda metric: find(thresholds, loaded_model.name, metric), record, record_judged,
    )  # fmt: skip
    assert not wrong, "; ".join(wrong)


@pytest.mark.encoder
def test_embedding_fidelity(loaded_model, fidelity_reference, thresholds, record, record_judged):
    require_real_weights(loaded_model)
    reference = fidelity_reference(loaded_model.spec)
    pooled = pooled_states(loaded_model.model, reference.ids, loaded_model.device)
    measured = compare_pooled(reference.outputs, pooled)
    record("embedding_mean_cosine", measured.mean_cosine)
    wrong = judge_fidelity(
        measured, reference.controls, ENCODER_FIGURES,
        lambda metric: find(thresholds, loaded_model.name, metric), record, record_judged,
    )  # fmt: skip
    assert not wrong, "; ".join(wrong)
