"""Causal-LM quality: next-token anatomy, known answers, perplexity, outputs and temperature.

A fast model that is wrong must fail here. Known-answer accuracy and perplexity are judged
against benches/thresholds.toml, and each has a broken control that must fail the same
threshold (answers rotated between prompts; the sentences' words shuffled), so a threshold
that cannot fail would show. The course prompts' greedy and sampled continuations go to the
`outputs` table beside the run report, one column per model. Models with synthetic weights
skip every check but the anatomy, whose shapes hold for any weights. Known answers, perplexity
and the greedy outputs are measured in every runtime that offers greedy text or logits
(lmgauge.runtimes: transformers and llama.cpp, on the same token ids); the anatomy, the
temperature sweep and the re-initialised control reach inside a transformers model.
"""

from __future__ import annotations

import pytest

from lmgauge import runtimes
from lmgauge.model.next_token import dissect
from lmgauge.pytest_plugin.quality_fixtures import require_real_weights
from lmgauge.quality.controls import control_escapes, reinitialised, shuffled_words
from lmgauge.quality.diversity import distinct_n, mean_repetition_rate
from lmgauge.quality.known_answers import ANSWERS, CONTINUATION_TOKENS, PROMPTS, answered, score
from lmgauge.quality.textgen import continue_texts
from lmgauge.quality.thresholds import find
from lmgauge.runtimes.scoring import subject_perplexity
from lmgauge.sources.models import SYNTHETIC
from lmgauge.sources.prompts import pad_token_id, prompt_ids

ANATOMY_PROMPT = "The capital of France is"
COURSE_PROMPTS = (
    "Artificial intelligence is",
    "The future of technology will",
    "Machine learning models can",
    "In the year 2030, we will",
    "The most important challenge in AI is",
)
OUTPUT_TOKENS = 32
SWEEP_TOKENS = 24
TEMPERATURES = (0.1, 0.5, 1.0, 1.5)
SAMPLING_SEED = 0
PERPLEXITY_SPLIT = "test"
PERPLEXITY_SENTENCES = 100
SHUFFLED_SENTENCES = 8

pytestmark = pytest.mark.causal_lm


def anatomy_input(loaded_model):
    if loaded_model.tokenizer is None:
        vocab = loaded_model.model.get_input_embeddings().weight.shape[0]
        return prompt_ids(None, 6, vocab)
    return loaded_model.tokenizer(ANATOMY_PROMPT, return_tensors="pt")["input_ids"]


def test_next_token_anatomy(loaded_model, record, record_text):
    """Hidden states (1, T, hidden) -> LM head -> logits (1, T, vocab) -> generate's token."""
    import torch

    if loaded_model.config.quantization == "int8-dynamic":
        pytest.skip("int8-dynamic packs the LM head's weight, so it cannot be applied by hand")
    input_ids = anatomy_input(loaded_model)
    tokens = input_ids.shape[1]
    anatomy = dissect(loaded_model, input_ids)
    config = loaded_model.model.config
    vocab = loaded_model.model.get_output_embeddings().weight.shape[0]
    record("anatomy_hidden_size", anatomy.hidden_shape[-1], tokens=tokens)
    record("anatomy_hidden_states", anatomy.hidden_states)
    record("anatomy_logits_width", anatomy.logits_shape[-1], tokens=tokens)
    record("anatomy_head_max_abs_difference", anatomy.head_max_abs_difference)
    assert anatomy.hidden_shape == (1, tokens, config.hidden_size)
    assert anatomy.logits_shape == (1, tokens, vocab)
    assert anatomy.hidden_states == config.num_hidden_layers + 1
    assert anatomy.head_token_id == anatomy.token_id, "the LM head alone picks another token"
    input_ids = input_ids.to(loaded_model.device)
    with torch.inference_mode():
        generated = loaded_model.model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=1,
            do_sample=False,
            num_beams=1,
            pad_token_id=pad_token_id(loaded_model.tokenizer, config),
        )
    assert int(generated[0, -1]) == anatomy.token_id, "generate picks another next token"
    if anatomy.token is not None and loaded_model.spec.weights != SYNTHETIC:
        for rank, (token, probability) in enumerate(anatomy.top, start=1):
            record_text(
                "next_token", f"{token!r} p={probability:.3f}", prompt=ANATOMY_PROMPT, rank=rank
            )


@pytest.mark.runtime(*runtimes.CONTINUING)
def test_known_answers(loaded_model, thresholds, record, record_judged, record_text):
    require_real_weights(loaded_model)
    prompts, answers = list(PROMPTS), list(ANSWERS)
    continuations = runtimes.greedy_texts(loaded_model, prompts, CONTINUATION_TOKENS)
    for prompt, answer, text in zip(prompts, answers, continuations, strict=True):
        record_text("known_answers", text, prompt=prompt, expected=answer)
    accuracy = score(continuations, answers)
    failure = record_judged("known_answer_accuracy", accuracy)
    rotated = record(
        "control_known_answer_accuracy",
        score(continuations, answers[1:] + answers[:1]),
        control="rotated-answers",
    ).value
    missed = [
        p for p, a, t in zip(prompts, answers, continuations, strict=True) if not answered(t, a)
    ]
    assert failure is None, f"{failure}; missed: {missed}"
    escape = control_escapes(
        find(thresholds, loaded_model.name, "known_answer_accuracy"), rotated, accuracy, "higher"
    )
    assert escape is None, f"rotated answers: {escape}"


def held_out_sentences(polarity, count: int) -> list[str]:
    return list(polarity[PERPLEXITY_SPLIT]["text"][:count])


@pytest.mark.runtime(*runtimes.SCORING)
def test_perplexity(loaded_model, polarity, thresholds, record, record_judged):
    """Perplexity of the first 100 held-out test sentences, each cut to 128 token ids of the
    model's transformers tokenizer, in every runtime that gives logits: the same tokens scored
    in each. The same sentences with their words shuffled must fail the threshold."""
    require_real_weights(loaded_model)
    where = {"split": PERPLEXITY_SPLIT, "sentences": PERPLEXITY_SENTENCES}
    measured = subject_perplexity(loaded_model, held_out_sentences(polarity, PERPLEXITY_SENTENCES))
    failure = record_judged("perplexity", measured.perplexity, **where)
    record("nll_per_token", measured.nats_per_token, **where)
    record("perplexity_tokens", measured.tokens, **where)
    control_sentences = shuffled_words(held_out_sentences(polarity, SHUFFLED_SENTENCES))
    control = record(
        "control_perplexity",
        subject_perplexity(loaded_model, control_sentences).perplexity,
        control="shuffled-words",
        split=PERPLEXITY_SPLIT,
        sentences=SHUFFLED_SENTENCES,
    ).value
    assert failure is None, failure
    threshold = find(thresholds, loaded_model.name, "perplexity", **where)
    escape = control_escapes(threshold, control, measured.perplexity, "lower")
    assert escape is None, f"shuffled words: {escape}"


@pytest.mark.runtime(*runtimes.CONTINUING)
def test_greedy_outputs(loaded_model, record_text):
    """The course prompts' greedy continuations, side by side across models and runtimes in
    `outputs`."""
    require_real_weights(loaded_model)
    continuations = runtimes.greedy_texts(loaded_model, list(COURSE_PROMPTS), OUTPUT_TOKENS)
    for prompt, text in zip(COURSE_PROMPTS, continuations, strict=True):
        record_text("outputs", text, decoding="greedy", prompt=prompt)
    assert all(text.strip() for text in continuations), "a prompt was continued with nothing"


def test_temperature_sweep(loaded_model, record, record_text):
    """Seeded pure-temperature sampling of the course prompts: diversity must grow with heat."""
    require_real_weights(loaded_model)
    diversity = {}
    for temperature in TEMPERATURES:
        texts = continue_texts(
            loaded_model, list(COURSE_PROMPTS), SWEEP_TOKENS, temperature, SAMPLING_SEED
        )
        decoding = f"temperature={temperature} seed={SAMPLING_SEED}"
        for prompt, text in zip(COURSE_PROMPTS, texts, strict=True):
            record_text("outputs", text, decoding=decoding, prompt=prompt)
        for n in (1, 2):
            diversity[temperature, n] = record(
                "distinct_n",
                distinct_n(texts, n),
                n=n,
                temperature=temperature,
                new_tokens=SWEEP_TOKENS,
            ).value
        record(
            "repetition_rate",
            mean_repetition_rate(texts),
            temperature=temperature,
            new_tokens=SWEEP_TOKENS,
        )
    coldest, hottest = min(TEMPERATURES), max(TEMPERATURES)
    assert diversity[hottest, 1] > diversity[coldest, 1], (
        f"distinct-1 at temperature {hottest} ({diversity[hottest, 1]:.3f}) is no higher than "
        f"at {coldest} ({diversity[coldest, 1]:.3f}): the temperature is not reaching sampling"
    )


@pytest.mark.slow
def test_reinitialised_weights_fail_the_quality_thresholds(
    loaded_model, polarity, thresholds, record
):
    require_real_weights(loaded_model)
    where = {"split": PERPLEXITY_SPLIT, "sentences": PERPLEXITY_SENTENCES}
    guarded = [
        find(thresholds, loaded_model.name, "known_answer_accuracy"),
        find(thresholds, loaded_model.name, "perplexity", **where),
    ]
    if None in guarded:
        pytest.skip(f"no known-answer or perplexity threshold for {loaded_model.name}")
    broken = reinitialised(loaded_model)
    prompts, answers = list(PROMPTS), list(ANSWERS)
    accuracy = record(
        "control_known_answer_accuracy",
        score(continue_texts(broken, prompts, CONTINUATION_TOKENS), answers),
        control="reinitialised-weights",
    ).value
    broken_perplexity = record(
        "control_perplexity",
        subject_perplexity(broken, held_out_sentences(polarity, PERPLEXITY_SENTENCES)).perplexity,
        control="reinitialised-weights",
        **where,
    ).value
    passed = [
        threshold.explain(value)
        for threshold, value in zip(guarded, (accuracy, broken_perplexity), strict=True)
        if threshold.passes(value)
    ]
    assert not passed, f"thresholds that re-initialised weights pass: {'; '.join(passed)}"
