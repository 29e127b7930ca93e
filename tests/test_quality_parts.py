"""The causal-LM quality parts on tiny models: diversity, known answers, perplexity, generation,
next-token anatomy, thresholds with bounds, and the text tables beside a report."""

import math

import pytest

from lmgauge.model.next_token import dissect
from lmgauge.quality.diversity import distinct_n, mean_repetition_rate, repetition_rate
from lmgauge.quality.known_answers import KNOWN_ANSWERS, first_word, score
from lmgauge.quality.textgen import continue_texts
from lmgauge.quality.thresholds import find, load_thresholds
from lmgauge.render.text_tables import write_text_tables
from lmgauge.runtimes.scoring import subject_perplexity
from tests.conftest import PROJECT
from tests.tiny_models import load_on_cpu

SENTENCES = ["the film was good .", "bad", "a very dull plot and awful actors .", "fun and great"]


@pytest.fixture(scope="module")
def tiny_lm(tiny_gpt2_dir):
    return load_on_cpu(tiny_gpt2_dir)


def test_distinct_n_and_repetition_of_known_texts():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b", "A B"], 2) == 0.5, "pooled over texts, case-insensitive"
    assert distinct_n(["one"], 2) == 0.0
    assert repetition_rate("a b c a b c", 3) == 0.25, "abc bca cab abc: one repeat in four"
    assert repetition_rate("a b c d") == 0.0 and repetition_rate("a b") == 0.0
    assert mean_repetition_rate(["a b c a b c", "x y z"]) == 0.125


def test_known_answers_score_the_first_word_only():
    assert first_word(" Paris.\n\nThe answer") == "paris"
    assert first_word("") == ""
    assert score([" Paris.", " the city of Paris"], ["Paris", "Paris"]) == 0.5
    assert len({prompt for prompt, _ in KNOWN_ANSWERS}) == len(KNOWN_ANSWERS)
    with pytest.raises(ValueError, match="2 continuations for 1 answers"):
        score(["a", "b"], ["a"])


def test_perplexity_matches_the_models_own_loss_and_ignores_padding(tiny_lm):
    import torch

    single = subject_perplexity(tiny_lm, [SENTENCES[2]])
    ids = tiny_lm.tokenizer(SENTENCES[2], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        loss = tiny_lm.model(input_ids=ids, labels=ids).loss
    assert single.tokens == ids.shape[1] - 1
    assert math.isclose(single.perplexity, math.exp(float(loss)), rel_tol=1e-5)
    together = subject_perplexity(tiny_lm, SENTENCES, batch_size=4)
    alone = [subject_perplexity(tiny_lm, [text]) for text in SENTENCES]
    assert together.tokens == sum(p.tokens for p in alone)
    assert math.isclose(together.nll_nats, sum(p.nll_nats for p in alone), rel_tol=1e-5)


def test_greedy_batches_match_single_prompts_and_sampling_follows_its_seed(tiny_lm):
    prompts = ["the film", "a very dull plot and"]
    batched = continue_texts(tiny_lm, prompts, 8)
    assert batched == [continue_texts(tiny_lm, [prompt], 8)[0] for prompt in prompts]
    first = continue_texts(tiny_lm, prompts, 8, temperature=1.5, seed=3)
    assert first == continue_texts(tiny_lm, prompts, 8, temperature=1.5, seed=3)
    assert first != continue_texts(tiny_lm, prompts, 8, temperature=1.5, seed=4)


def test_next_token_anatomy_of_a_gpt2_and_a_llama(tiny_lm, tiny_gguf_file):
    ids = tiny_lm.tokenizer("the film was", return_tensors="pt")["input_ids"]
    gpt2 = dissect(tiny_lm, ids)
    assert gpt2.hidden_shape == (1, 3, 32) and gpt2.logits_shape == (1, 3, 64)
    assert gpt2.hidden_states == 3, "embedding output + 2 layers"
    assert gpt2.head_max_abs_difference == 0.0 and gpt2.head_token_id == gpt2.token_id
    assert gpt2.top[0][0] == gpt2.token and 0 < gpt2.probability <= 1
    llama = load_on_cpu(tiny_gguf_file)
    anatomy = dissect(llama, llama.tokenizer("hello", return_tensors="pt")["input_ids"])
    assert anatomy.hidden_shape[-1] == 16 and anatomy.logits_shape[-1] == 257
    assert anatomy.hidden_states == 2


def test_thresholds_with_a_max_bound(tmp_path):
    path = tmp_path / "thresholds.toml"
    path.write_text(
        "version = 2\n[[threshold]]\nmodel = 'm'\nmetric = 'perplexity'\nmax = 300\n"
        "reason = 'measured 240'\n"
    )
    (threshold,) = load_thresholds(path)
    assert threshold.passes(240) and not threshold.passes(301)
    assert threshold.explain(301) == "perplexity: 301 > max 300.0 (measured 240)"
    shipped = load_thresholds(PROJECT / "benches" / "thresholds.toml")
    bound = find(shipped, "smollm2-135m", "perplexity", split="test", sentences=100)
    assert bound is not None and bound.passes(240) and not bound.passes(2900)
    known = find(shipped, "smollm2-135m", "known_answer_accuracy")
    assert known is not None and known.passes(0.8125) and not known.passes(0.0)


def test_text_tables_put_models_side_by_side(tmp_path):
    entries = [
        {"table": "outputs", "model": "a", "params": {"prompt": "P"}, "text": "x | y\nz"},
        {"table": "outputs", "model": "b", "params": {"prompt": "P"}, "text": "q"},
        {"table": "known", "model": "a", "params": {"prompt": "P"}, "text": "r"},
    ]
    written = write_text_tables(entries, tmp_path / "20261123T000000Z_run.json")
    names = sorted(path.name for path in written)
    assert names == [
        "20261123T000000Z_run.known.csv",
        "20261123T000000Z_run.known.md",
        "20261123T000000Z_run.outputs.csv",
        "20261123T000000Z_run.outputs.md",
    ]
    markdown = (tmp_path / "20261123T000000Z_run.outputs.md").read_text()
    assert "| prompt   | a          | b   |" in markdown
    assert "x \\| y ⏎ z" in markdown
    assert write_text_tables([], tmp_path / "r.json") == []


def test_threshold_verdicts_name_their_bounds_or_say_unjudged():
    from lmgauge.quality.thresholds import Threshold, verdict

    low = Threshold("m", "perplexity", {}, min=float("-inf"), max=60.0, reason="measured 40")
    assert verdict(low, 50.0) == {"verdict": "pass", "max": 60.0, "reason": "measured 40"}
    assert verdict(low, 70.0)["verdict"] == "fail"
    high = Threshold("m", "known_answer_accuracy", {}, min=0.5, reason="r")
    assert verdict(high, 0.4) == {"verdict": "fail", "min": 0.5, "reason": "r"}
    assert verdict(None, 0.4) == {"verdict": "unjudged"}


def test_a_control_that_passes_says_which_figure_and_bound_in_one_short_sentence():
    """Found by a new-user pass: on a tiny random model the message repeated the threshold's
    whole reason and printed empty params as `{}`."""
    from lmgauge.quality.controls import control_escapes
    from lmgauge.quality.thresholds import Threshold

    guard = Threshold("*", "top1_agreement", {}, 0.9, "a long reason " * 20)
    message = control_escapes(guard, 0.995, 1.0, "higher")
    assert message.startswith("the broken control passes top1_agreement: 0.995 is at least 0.9")
    assert "{}" not in message and "long reason" not in message
    capped = Threshold("m", "perplexity", {"split": "test"}, -float("inf"), "r", max=300)
    assert "perplexity (split=test): 250 is at most 300" in control_escapes(capped, 250, 240,
                                                                              "lower")
