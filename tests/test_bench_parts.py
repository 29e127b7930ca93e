"""Parts the benches are built from, on tiny models: the hand-written decode loop, paired
alternation, batching inputs, and the broken controls' judging."""

from __future__ import annotations

import pytest
import torch

from lmgauge.measure.batching import batch_inputs, batch_keeps_outputs, is_out_of_memory
from lmgauge.measure.hand_loop import alternate, greedy_hand_loop, median_paired_ratio
from lmgauge.quality.controls import control_escapes, judge_control, shuffled_words
from lmgauge.quality.thresholds import Threshold
from lmgauge.sources.prompts import model_inputs, pad_token_id
from tests.tiny_models import load_on_cpu


def test_the_hand_loop_decodes_the_tokens_generate_picks(tiny_gpt2_dir):
    """...through the KV-cache keyword of the installed transformers, without a deprecation."""
    import warnings

    from lmgauge.measure.generation import timed_generate

    loaded = load_on_cpu(tiny_gpt2_dir)
    ids, mask = model_inputs(loaded, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hand = greedy_hand_loop(loaded.model, ids, mask, 6, loaded.device)
    assert not [w for w in caught if "past_key_values" in str(w.message)]
    assert len(hand.step_s) == 5 and len(hand.tokens) == 6
    pad = pad_token_id(loaded.tokenizer, loaded.model.config)
    _, generated = timed_generate(loaded.model, ids, mask, 6, loaded.device, pad)
    assert hand.tokens == generated[0, ids.shape[1] :].tolist()


def test_generation_runs_past_an_end_of_sequence_token_as_a_bare_loop_would(tiny_gpt2_dir):
    """Fixed length by ignoring EOS: a model whose first greedy token is its EOS still makes
    every token, and they are the bare argmax loop's (forbidding EOS would change them)."""
    from lmgauge.measure.generation import timed_generate

    loaded = load_on_cpu(tiny_gpt2_dir)
    ids, mask = model_inputs(loaded, 8)
    hand = greedy_hand_loop(loaded.model, ids, mask, 6, loaded.device)
    loaded.model.generation_config.eos_token_id = hand.tokens[0]
    timing, generated = timed_generate(loaded.model, ids, mask, 6, loaded.device, pad_token_id=0)
    assert generated[0, ids.shape[1] :].tolist() == hand.tokens and len(timing.step_s) == 5


def test_alternation_takes_turns_and_pairs_each_round():
    calls = []
    pairs = alternate(lambda: calls.append("a") or 2.0, lambda: calls.append("b") or 1.0, 4)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert pairs == [(2.0, 1.0)] * 4
    assert median_paired_ratio([([2.0, 2.2], [1.0]), ([3.0], [2.0]), ([1.0], [1.0])]) == 1.5


def test_batch_inputs_are_on_the_models_device(tiny_bert_dir):
    loaded = load_on_cpu(tiny_bert_dir)
    loaded.model.to("meta")
    loaded.device = torch.device("meta")
    ids, mask = batch_inputs(loaded, [5, 7, 3])
    assert ids.device.type == "meta" and mask.device.type == "meta"


def test_batched_rows_match_single_rows_on_a_tiny_encoder(tiny_bert_dir):
    loaded = load_on_cpu(tiny_bert_dir)
    ids, mask = batch_inputs(loaded, [6, 6])
    assert batch_keeps_outputs(loaded.model, ids, mask)


def test_out_of_memory_is_told_apart_from_other_errors():
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_shuffled_words_keep_every_word():
    sentences = ["one two three four five six", "a b"]
    shuffled = shuffled_words(sentences, seed=0)
    assert [sorted(s.split()) for s in shuffled] == [sorted(s.split()) for s in sentences]
    assert shuffled[0] != sentences[0]
    assert shuffled == shuffled_words(sentences, seed=0)


ACCURACY = Threshold("m", "baseline_accuracy", {"split": "test"}, min=0.7, reason="r")
PERPLEXITY = Threshold("m", "perplexity", {}, min=0.0, max=60.0, reason="r")
BAND = Threshold("m", "perplexity", {}, min=10.0, max=60.0, reason="r")


@pytest.mark.parametrize(
    ("threshold", "control", "real", "direction", "escape"),
    [
        (ACCURACY, 0.5, 0.8, "higher", None),
        (ACCURACY, 0.75, 0.8, "higher", "the broken control passes"),
        (PERPLEXITY, 900.0, 30.0, "lower", None),
        (PERPLEXITY, 50.0, 30.0, "lower", "the broken control passes"),
        (PERPLEXITY, 70.0, 80.0, "lower", None),  # the real figure fails on its own
        (BAND, 5.0, 30.0, "lower", "no worse"),  # fails the band, yet "better" than the real
        (None, 0.9, 0.5, "higher", None),
    ],
)
def test_a_control_escapes_when_it_passes_or_does_no_worse(
    threshold, control, real, direction, escape
):
    found = control_escapes(threshold, control, real, direction)
    assert (found is None) == (escape is None)
    assert escape is None or escape in found


def test_judge_control_records_every_guard_and_lists_those_it_passes():
    guards = [
        Threshold("m", "baseline_accuracy", {"features": "cls", "classifier": "svm", "split": s},
                  min=0.7, reason="r")
        for s in ("validation", "test")
    ]  # fmt: skip
    recorded, scored = [], []

    def score_of(features, classifier):
        scored.append((features, classifier))
        return {"validation": {"accuracy": 0.5}, "test": {"accuracy": 0.72}}

    def record(metric, value, **params):
        recorded.append((metric, value, params["split"], params["control"]))
        return type("R", (), {"value": value})

    passed = judge_control(guards, "shuffled-labels", score_of, record)
    assert scored == [("cls", "svm")], "one score per (features, classifier)"
    assert [r[:3] for r in recorded] == [
        ("control_accuracy", 0.5, "validation"),
        ("control_accuracy", 0.72, "test"),
    ]
    assert len(passed) == 1 and "0.72" in passed[0]


def test_the_batched_output_check_allows_for_half_precision():
    """Batch-size-variant kernels differ by more than 1e-4 in bfloat16/float16 (on GPUs above
    all): a 1 % difference passes in bfloat16 and fails in float32."""
    import torch

    class Wobbly:
        def __init__(self, dtype):
            self.dtype = dtype

        def __call__(self, input_ids, attention_mask=None):
            values = input_ids.float().unsqueeze(-1).repeat(1, 1, 4)
            if input_ids.shape[0] > 1:
                values = values * 1.01
            return (values.to(self.dtype),)

    ids = torch.tensor([[1, 2], [3, 4]])
    mask = torch.ones_like(ids)
    assert batch_keeps_outputs(Wobbly(torch.bfloat16), ids, mask)
    assert not batch_keeps_outputs(Wobbly(torch.float32), ids, mask)
