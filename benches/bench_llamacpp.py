"""llama.cpp configurations (`--configs llamacpp`): a model's GGUF file run as quantized.

What only llama.cpp has, under the transformers benches' metric names, so that the configuration
table puts them side by side: load time and resident memory of the memory-mapped file,
perplexity, known answers and fidelity to the float32 eager reference. Its generation latency
(time to first token, every decode step against llama.cpp's own per-token counters, tokens/s)
is timed by bench_generate's test_generate, as every runtime's is (lmgauge.runtimes).
"""

from __future__ import annotations

import gc
import math
import time

import pytest

from lmgauge.errors import ModelLoadError
from lmgauge.measure.llamacpp_timing import llamacpp_logits, timed_llamacpp_generate
from lmgauge.measure.memory import track_memory
from lmgauge.quality.fidelity import CAUSAL_FIGURES, compare_logits, mean_nll
from lmgauge.quality.known_answers import ANSWERS, CONTINUATION_TOKENS, PROMPTS, score
from lmgauge.runtime import resolve_device
from lmgauge.sources.llamacpp import open_llama
from lmgauge.sources.loading import reference_tokenizer

pytestmark = [pytest.mark.causal_lm, pytest.mark.runtime("llamacpp")]

PERPLEXITY_SENTENCES = 100
PERPLEXITY_MAX_TOKENS = 128


def test_load_and_memory(loaded_model, record, rounds):
    """A fresh llama.cpp context on the same file, `rounds` times: load time, and the resident
    memory it adds once a prompt has touched every weight (llama.cpp memory-maps the file)."""
    cpu = resolve_device("cpu")
    loads, growth = [], []
    for _ in range(rounds):
        with track_memory(cpu) as tracker:
            started = time.perf_counter()
            llama = open_llama(loaded_model.path, loaded_model.threads, 512)
            loads.append(time.perf_counter() - started)
            llama.eval(loaded_model.tokenize("warm every weight"))
        growth.append(tracker.reading.rss_after_bytes - tracker.reading.rss_before_bytes)
        del llama
        gc.collect()
    record("warm_load_seconds", samples=loads)
    record("resident_weights_bytes", max(growth), samples=growth)
    assert min(growth) > 0.5 * loaded_model.path.stat().st_size, "the weights are not resident"


def test_known_answers(loaded_model, record_judged, record_text):
    continuations = []
    for prompt in PROMPTS:
        _, _, tokens = timed_llamacpp_generate(
            loaded_model.llama, loaded_model.tokenize(prompt), CONTINUATION_TOKENS
        )
        continuations.append(loaded_model.detokenize(tokens))
    for prompt, answer, text in zip(PROMPTS, ANSWERS, continuations, strict=True):
        record_text("known_answers", text, prompt=prompt, expected=answer)
    failure = record_judged("known_answer_accuracy", score(continuations, list(ANSWERS)))
    assert failure is None, failure


@pytest.fixture
def scorer(loaded_model):
    """A llama.cpp context that keeps every position's logits, freed after the test."""
    scoring = loaded_model.scorer()
    yield scoring
    del scoring
    gc.collect()


def test_perplexity(loaded_model, polarity, scorer, record, record_judged):
    """Perplexity of the first 100 held-out test sentences, each scored on its own with the
    token ids the transformers tokenizer of the same files makes (as it does by default: no
    BOS for SmolLM2), truncated to 128, as the transformers perplexity bench does: the two
    perplexities are then over the same tokens and comparable."""
    try:
        tokenizer = reference_tokenizer(loaded_model.spec)
    except ModelLoadError as error:
        pytest.skip(f"no transformers tokenizer to score the same token ids with: {error}")
    if tokenizer is None:
        pytest.skip(f"{loaded_model.name} has no tokenizer to score the same token ids with")
    sentences = list(polarity["test"]["text"][:PERPLEXITY_SENTENCES])
    ids = [tokenizer(text)["input_ids"][:PERPLEXITY_MAX_TOKENS] for text in sentences]
    nats = mean_nll(llamacpp_logits(scorer, ids), ids)
    where = {"split": "test", "sentences": PERPLEXITY_SENTENCES}
    failure = record_judged("perplexity", math.exp(nats), **where)
    record("nll_per_token", nats, **where)
    record("perplexity_tokens", sum(len(row) - 1 for row in ids), **where)
    assert failure is None, failure


def test_next_token_fidelity(loaded_model, fidelity_reference, scorer, check_fidelity, record):
    """The reference's token ids through llama.cpp: how far the quantized file is from the
    float32 eager reference (for smollm2-135m the reference is the same Q4_1 weights
    de-quantised, so the gap is llama.cpp's arithmetic)."""
    reference = fidelity_reference(loaded_model.spec)
    measured = compare_logits(reference.outputs, llamacpp_logits(scorer, reference.ids),
                              reference.ids)  # fmt: skip
    record("fidelity_positions", measured.positions)
    check_fidelity(measured, reference, CAUSAL_FIGURES)
