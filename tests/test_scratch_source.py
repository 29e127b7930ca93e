"""The from-scratch GPT as a model source: saved and loaded through transformers' Auto classes
it computes the same function, `generate` drives it without a cache and gives the course
`generate`'s greedy tokens, and it answers the calls the benches make of a causal LM."""

from __future__ import annotations

import torch

from lmgauge.measure.kv_cache import keeps_kv_cache
from lmgauge.model import anatomy
from lmgauge.sources.models import resolve
from lmgauge.sources.scratch_gpt import copy_gpt2_weights
from lmgauge.sources.scratch_hf import ScratchGPTConfig, ScratchGPTForCausalLM
from tests.test_scratch_gpt import SMALL, hf_twin


def small_pair():
    twin = hf_twin(SMALL)
    config = ScratchGPTConfig(
        vocab_size=SMALL.vocab_size, max_position_embeddings=SMALL.context,
        hidden_size=SMALL.width, num_attention_heads=SMALL.heads, num_hidden_layers=SMALL.layers,
    )  # fmt: skip
    scratch = ScratchGPTForCausalLM(config).eval()
    copy_gpt2_weights(scratch.gpt, twin)
    return scratch, twin


def test_a_saved_scratch_model_loads_back_through_the_auto_classes(tmp_path):
    from transformers import AutoModelForCausalLM

    scratch, _ = small_pair()
    scratch.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, SMALL.vocab_size, (1, 9))
    assert type(loaded) is ScratchGPTForCausalLM
    assert loaded.gpt.head.weight is loaded.gpt.tokens.weight
    assert torch.equal(loaded(ids).logits, scratch(ids).logits)
    assert not keeps_kv_cache(loaded)


def test_generate_recomputes_the_prefix_and_matches_the_course_generate_and_gpt2():
    scratch, twin = small_pair()
    ids = torch.randint(0, SMALL.vocab_size, (1, 6))
    seen = []
    original = scratch.forward

    def counting(input_ids, **kwargs):
        seen.append(input_ids.shape[1])
        return original(input_ids, **kwargs)

    scratch.forward = counting
    with torch.no_grad():
        ours = scratch.generate(ids, max_new_tokens=5, do_sample=False)
    assert seen == [6, 7, 8, 9, 10], "each step must see the whole prefix"
    assert torch.equal(ours, scratch.gpt.generate(ids, 5, temperature=0))
    assert torch.equal(ours, twin.generate(ids, max_new_tokens=5, do_sample=False))


def test_it_answers_the_calls_benches_make_as_gpt2_does():
    scratch, twin = small_pair()
    ids = torch.randint(0, SMALL.vocab_size, (1, 7))
    with torch.no_grad():
        ours = scratch.base_model(input_ids=ids, output_hidden_states=True)
        theirs = twin.base_model(input_ids=ids, output_hidden_states=True)
        last = scratch(ids, logits_to_keep=1).logits
    assert len(ours.hidden_states) == len(theirs.hidden_states) == SMALL.layers + 1
    assert torch.allclose(ours.last_hidden_state, theirs.last_hidden_state, atol=1e-5)
    assert last.shape == (1, 1, SMALL.vocab_size)
    ours_by_module = anatomy.parameters_by_module(scratch)
    assert list(ours_by_module.values()) == list(anatomy.parameters_by_module(twin).values())
    assert list(ours_by_module) == ["tokens", "positions", "blocks", "norm"]
    assert anatomy.matmul_parameters(scratch) == anatomy.matmul_parameters(twin)


def test_scratch_gpt2_is_registered_in_gpt2_small_shape():
    spec = resolve("scratch-gpt2")
    assert spec.source == "scratch" and spec.config == {"twin": "gpt2"}
    assert spec.expected_parameters == resolve("gpt2").expected_parameters
