"""The from-scratch GPT: its parameter count, its causality, the same function as transformers'
GPT-2 when given GPT-2's weights, and a loss that falls when it over-fits a tiny text."""

from __future__ import annotations

import torch

from lmgauge.sources.scratch_gpt import ScratchConfig, ScratchGPT, copy_gpt2_weights

SMALL = ScratchConfig(vocab_size=97, context=32, width=48, heads=4, layers=2)


def hf_twin(config: ScratchConfig):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    shape = GPT2Config(vocab_size=config.vocab_size, n_positions=config.context,
                       n_embd=config.width, n_head=config.heads, n_layer=config.layers)  # fmt: skip
    return GPT2LMHeadModel(shape).eval()


def test_the_parameter_formula_gives_gpt2_small_and_counts_the_model():
    assert ScratchConfig.gpt2_small().parameter_formula() == 124_439_808
    model = ScratchGPT(SMALL)
    assert sum(p.numel() for p in model.parameters()) == SMALL.parameter_formula()
    assert sum(p.numel() for p in hf_twin(SMALL).parameters()) == SMALL.parameter_formula()


def test_a_later_token_never_changes_an_earlier_positions_logits():
    torch.manual_seed(1)
    model = ScratchGPT(SMALL).eval()
    ids = torch.randint(0, SMALL.vocab_size, (2, 12))
    changed = ids.clone()
    changed[:, 7] = (changed[:, 7] + 1) % SMALL.vocab_size
    before, after = model(ids)[0], model(changed)[0]
    assert torch.equal(before[:, :7], after[:, :7])
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_with_gpt2s_weights_it_computes_gpt2s_logits_and_tokens():
    twin = hf_twin(SMALL)
    model = copy_gpt2_weights(ScratchGPT(SMALL).eval(), twin)
    ids = torch.randint(0, SMALL.vocab_size, (3, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        theirs = twin(ids).logits
    assert torch.allclose(model(ids)[0], theirs, atol=1e-5), "logits differ beyond 1e-5"
    greedy = model.generate(ids[:1, :5], 8, temperature=0)
    hf = twin.generate(ids[:1, :5], max_new_tokens=8, do_sample=False, pad_token_id=0)
    assert torch.equal(greedy, hf)
    assert torch.equal(model.generate(ids[:1, :5], 8, temperature=1.0, top_k=1), greedy)


def test_the_loss_falls_when_it_overfits_a_tiny_text():
    torch.manual_seed(3)
    model = ScratchGPT(SMALL)
    text = torch.randint(0, SMALL.vocab_size, (4, 17))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        _, loss = model(text[:, :-1], text[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 4.0 and losses[-1] < 0.5, f"loss {losses[0]:.2f} -> {losses[-1]:.2f}"
