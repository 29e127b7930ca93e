"""Library helpers leave what they are handed as they found it: the tokenizer's pad token and
padding side, torch's global random generator, the model's weights."""

from __future__ import annotations

import pytest
import torch

from lmgauge.quality.controls import reinitialised
from lmgauge.quality.features import extract
from lmgauge.quality.textgen import continue_texts
from lmgauge.runtimes.scoring import subject_perplexity
from lmgauge.sources.prompts import pad_token_id
from tests.tiny_models import load_on_cpu

SENTENCES = ["the film was good .", "bad", "a very dull plot and awful actors ."]


@pytest.fixture(scope="module")
def tiny_lm(tiny_gpt2_dir):
    """A tiny GPT-2 whose tokenizer has no pad token, as GPT-2's own has none."""
    loaded = load_on_cpu(tiny_gpt2_dir)
    loaded.tokenizer.pad_token = None
    return loaded


def tokenizer_state(tokenizer) -> tuple:
    return tokenizer.pad_token, tokenizer.pad_token_id, tokenizer.padding_side


def test_asking_for_the_pad_id_sets_no_pad_token(tiny_lm):
    assert tiny_lm.tokenizer.pad_token is None
    assert pad_token_id(tiny_lm.tokenizer, tiny_lm.model.config) == tiny_lm.tokenizer.eos_token_id
    assert tiny_lm.tokenizer.pad_token is None, "asking for the pad id set one"


@pytest.mark.parametrize("side", ["left", "right"])
def test_text_helpers_leave_the_tokenizer_as_they_found_it(tiny_lm, side):
    tokenizer = tiny_lm.tokenizer
    tokenizer.padding_side = side
    before = tokenizer_state(tokenizer)
    continue_texts(tiny_lm, SENTENCES, 4)
    assert tokenizer_state(tokenizer) == before, "continue_texts"
    subject_perplexity(tiny_lm, SENTENCES)
    assert tokenizer_state(tokenizer) == before, "perplexity"
    extract(tiny_lm, SENTENCES)
    assert tokenizer_state(tokenizer) == before, "extract"


def test_seeded_helpers_leave_the_global_generator_alone(tiny_lm):
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    continue_texts(tiny_lm, SENTENCES, 4, temperature=1.0, seed=0)
    assert torch.equal(torch.random.get_rng_state(), before), "sampling reseeded torch"
    reinitialised(tiny_lm)
    assert torch.equal(torch.random.get_rng_state(), before), "re-initialising reseeded torch"


def test_reinitialised_is_a_broken_copy_and_the_original_is_untouched(tiny_lm):
    """The tiny model is itself a seed-0 initialisation, so the control is drawn from seed 7."""
    original = {name: p.detach().clone() for name, p in tiny_lm.model.named_parameters()}
    broken = reinitialised(tiny_lm, seed=7)
    assert broken.model is not tiny_lm.model and broken.tokenizer is tiny_lm.tokenizer
    for name, parameter in tiny_lm.model.named_parameters():
        assert torch.equal(parameter, original[name]), name
    matrices = [name for name, parameter in broken.model.named_parameters() if parameter.dim() > 1]
    unchanged = [
        name
        for name, parameter in broken.model.named_parameters()
        if name in matrices and torch.equal(parameter, original[name])
    ]
    assert matrices and not unchanged, f"weight matrices left as trained: {unchanged}"
    again = reinitialised(tiny_lm, seed=7)
    for (name, first), second in zip(
        broken.model.named_parameters(), again.model.parameters(), strict=True
    ):
        assert torch.equal(first, second), f"{name}: the copy is not seeded"
