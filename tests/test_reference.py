"""The fidelity reference: copied from the default subject it equals a fresh reference load, and
batched it gives the logits of one text at a time."""

from __future__ import annotations

import random

import torch

from lmgauge import compute
from lmgauge.pytest_plugin.quality_fixtures import build_reference, reusable
from lmgauge.quality.fidelity import (
    CONTROL_TEXTS,
    FIDELITY_OFFSET,
    FIDELITY_SENTENCES,
    causal_logits,
    in_order_of_length,
)
from lmgauge.sources import loading, models
from lmgauge.sources.configs import REFERENCE, parse_config
from tests.tiny_models import WORDS

CPU = compute.resolve_device("cpu")
FP32 = compute.resolve_dtype("float32")


def polarity() -> dict:
    """Test sentences of 2 to 20 words, so that the reference's batches need padding."""
    chooser = random.Random(0)
    count = FIDELITY_OFFSET + FIDELITY_SENTENCES
    texts = [" ".join(chooser.choices(WORDS, k=chooser.randint(2, 20))) for _ in range(count)]
    return {"test": {"text": texts}}


def same_reference(first, second) -> bool:
    return (first.ids == second.ids and first.controls == second.controls
            and all(torch.equal(a, b) for a, b in zip(first.outputs, second.outputs, strict=True)))


def test_a_reference_copied_from_the_default_subject_equals_a_fresh_reference_load(tiny_gpt2_dir):
    spec = models.resolve(str(tiny_gpt2_dir))
    subject = loading.load(spec, CPU, FP32)
    before = {key: value.clone() for key, value in subject.model.state_dict().items()}
    copied = reusable(subject, CPU)
    assert copied is not None and copied.model is not subject.model
    assert copied.model.config._attn_implementation == "eager"
    from_copy = build_reference(copied, polarity(), CPU)
    from_load = build_reference(loading.load(spec, CPU, FP32, REFERENCE), polarity(), CPU)
    assert same_reference(from_copy, from_load)
    assert from_copy.controls["naive-int4"].top1_agreement < 1.0, "the controls broke the copy"
    after = subject.model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before), "the subject is untouched"


def test_only_the_default_float32_subject_is_copied(tiny_gpt2_dir):
    spec = models.resolve(str(tiny_gpt2_dir))
    assert reusable(loading.load(spec, CPU, FP32, parse_config("eager")), CPU) is None
    assert reusable(loading.load(spec, CPU, compute.resolve_dtype("bfloat16")), CPU) is None


def test_batched_logits_come_back_in_order_and_equal_one_text_at_a_time(tiny_gpt2_dir):
    loaded = loading.load(models.resolve(str(tiny_gpt2_dir)), CPU, FP32, REFERENCE)
    texts = polarity()["test"]["text"][:11]
    ids = [loaded.tokenizer(text)["input_ids"] for text in texts]
    alone = list(causal_logits(loaded.model, ids, CPU))
    batched = in_order_of_length(loaded.model, ids, CPU, batch_size=4)
    assert [tuple(t.shape) for t in batched] == [tuple(t.shape) for t in alone]
    for one, many in zip(alone, batched, strict=True):
        torch.testing.assert_close(many, one, rtol=1e-5, atol=1e-5)
        assert torch.equal(many.argmax(-1), one.argmax(-1))


def test_the_controls_run_on_the_first_texts_and_only_where_a_figure_is_judged_by_them(
    tiny_gpt2_dir, tiny_bert_dir
):
    """Causal LMs: both controls, each over the first CONTROL_TEXTS texts' positions; encoders:
    only naive-int8, the one control ENCODER_FIGURES judges by (int4's figure was never kept)."""
    causal = build_reference(
        loading.load(models.resolve(str(tiny_gpt2_dir)), CPU, FP32, REFERENCE), polarity(), CPU
    )
    assert set(causal.controls) == {"naive-int8", "naive-int4"}
    first = sum(len(row) for row in causal.ids[:CONTROL_TEXTS])
    assert len(causal.ids) > CONTROL_TEXTS
    assert all(control.positions == first for control in causal.controls.values())
    encoder = build_reference(
        loading.load(models.resolve(str(tiny_bert_dir)), CPU, FP32, REFERENCE), polarity(), CPU
    )
    assert set(encoder.controls) == {"naive-int8"}
    assert encoder.controls["naive-int8"].texts == CONTROL_TEXTS
