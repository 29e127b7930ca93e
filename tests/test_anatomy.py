"""Parameter anatomy on tiny models whose counts can be worked out by hand."""

import pytest
import torch
from torch import nn

from lmgauge.model import anatomy


@pytest.fixture(scope="module")
def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=8, n_layer=2, n_head=2))


def test_tied_output_embedding_is_counted_once(gpt2):
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight
    per_block = 2 * 8 + (8 * 24 + 24) + (8 * 8 + 8) + 2 * 8 + (8 * 32 + 32) + (32 * 8 + 8)
    expected = 64 * 8 + 16 * 8 + 2 * per_block + 2 * 8
    assert anatomy.total_parameters(gpt2) == expected
    assert anatomy.embedding_parameters(gpt2) == 64 * 8 + 16 * 8
    assert anatomy.non_embedding_parameters(gpt2) == 2 * per_block + 2 * 8


def test_breakdowns_add_up(gpt2):
    total = anatomy.total_parameters(gpt2)
    by_module = anatomy.parameters_by_module(gpt2)
    assert set(by_module) == {"wte", "wpe", "h", "ln_f"}
    assert sum(by_module.values()) == total
    by_type = anatomy.parameters_by_layer_type(gpt2)
    assert by_type["Embedding"] == 64 * 8 + 16 * 8
    assert sum(by_type.values()) == total


def test_untied_head_counts_as_embedding_and_lies_outside_the_base():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.base_model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4))
            self.head = nn.Linear(4, 10, bias=False)

        def get_output_embeddings(self):
            return self.head

    model = Tiny()
    assert anatomy.embedding_parameters(model) == 40 + 40
    assert anatomy.parameters_by_module(model) == {"0": 40, "1": 20, "(head)": 40}


def test_bytes_by_dtype_counts_buffers_and_dtypes():
    model = nn.Linear(4, 4).to(torch.float16)
    model.register_buffer("scale", torch.ones(3, dtype=torch.float32), persistent=False)
    assert anatomy.bytes_by_dtype(model) == {"float16": 20 * 2, "float32": 12}


def test_trainable_excludes_frozen(gpt2):
    for parameter in gpt2.transformer.h.parameters():
        parameter.requires_grad_(False)
    try:
        frozen = sum(p.numel() for p in gpt2.transformer.h.parameters())
        assert anatomy.trainable_parameters(gpt2) == anatomy.total_parameters(gpt2) - frozen
    finally:
        for parameter in gpt2.parameters():
            parameter.requires_grad_(True)
