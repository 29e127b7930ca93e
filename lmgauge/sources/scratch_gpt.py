"""The course's GPT, written from scratch in PyTorch: token and position embeddings, pre-norm
blocks of causal multi-head self-attention and a GELU MLP, a final layer norm, and an output head
tied to the token embedding. `generate` recomputes the whole prefix at every step, with no
key/value cache, as the course writes it.

With GPT-2's shapes (`ScratchConfig.gpt2_small()`) and weights copied from a transformers GPT-2
(`copy_gpt2_weights`), it computes the same function as `GPT2LMHeadModel`. Parameters: with
vocabulary V, context T, width d, L layers and biases, 2 d per layer norm,
attention 4 d^2 + 4 d, MLP 8 d^2 + 5 d, so (V + T) d + L (12 d^2 + 13 d) + 2 d in all
(`parameter_formula`); GPT-2 small: 124,439,808.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class ScratchConfig:
    vocab_size: int = 50257
    context: int = 1024
    width: int = 768
    heads: int = 12
    layers: int = 12
    dropout: float = 0.0
    bias: bool = True

    @classmethod
    def gpt2_small(cls) -> ScratchConfig:
        return cls()

    def parameter_formula(self) -> int:
        """Parameters by the closed form above (biases counted when `bias`)."""
        d, b = self.width, int(self.bias)
        norm = d + b * d
        block = 2 * norm + (4 * d * d + 4 * b * d) + (8 * d * d + 5 * b * d)
        return (self.vocab_size + self.context) * d + self.layers * block + norm


class CausalSelfAttention(nn.Module):
    """Multi-head attention in which each position attends to itself and earlier ones only."""

    def __init__(self, config: ScratchConfig):
        super().__init__()
        assert config.width % config.heads == 0, "the width must split evenly into heads"
        self.heads = config.heads
        self.qkv = nn.Linear(config.width, 3 * config.width, bias=config.bias)
        self.out = nn.Linear(config.width, config.width, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(batch, tokens, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])
        causal = torch.ones(tokens, tokens, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
        mixed = self.dropout(F.softmax(scores, dim=-1)) @ v
        return self.dropout(self.out(mixed.transpose(1, 2).reshape(batch, tokens, width)))


class MLP(nn.Module):
    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.up = nn.Linear(config.width, 4 * config.width, bias=config.bias)
        self.down = nn.Linear(4 * config.width, config.width, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x), approximate="tanh")))


class Block(nn.Module):
    """Pre-norm residual block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.width, bias=config.bias)
        self.attention = CausalSelfAttention(config)
        self.norm2 = nn.LayerNorm(config.width, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ScratchGPT(nn.Module):
    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.width)
        self.positions = nn.Embedding(config.context, config.width)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width, bias=config.bias)
        self.head = nn.Linear(config.width, config.vocab_size, bias=False)
        self.head.weight = self.tokens.weight  # weight tying
        self.checkpointing = False

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token plus position embeddings (batch, tokens, width)."""
        tokens = ids.shape[1]
        if tokens > self.config.context:
            raise ValueError(f"{tokens} tokens exceed the context of {self.config.context}")
        return self.tokens(ids) + self.positions(torch.arange(tokens, device=ids.device))

    def run_block(self, block: Block, x: torch.Tensor) -> torch.Tensor:
        """One block; with `checkpointing` set, while training, its activations are recomputed
        in the backward pass instead of kept."""
        if self.checkpointing and self.training:
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (batch, tokens, vocabulary), and the mean cross-entropy against `targets`
        (the next tokens) when given."""
        x = self.dropout(self.embed(ids))
        for block in self.blocks:
            x = self.run_block(block, x)
        x = self.norm(x)
        logits = self.head(x)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None):  # fmt: skip
        """`new_tokens` tokens after `ids`, each from the logits of a forward pass over the whole
        prefix (no cache): temperature 0 is greedy; top_k keeps the k likeliest tokens."""
        for _ in range(new_tokens):
            logits, _ = self(ids[:, -self.config.context :])
            last = logits[:, -1, :]
            if temperature == 0:
                chosen = last.argmax(dim=-1, keepdim=True)
            else:
                last = last / temperature
                if top_k is not None:
                    floor = torch.topk(last, min(top_k, last.shape[-1])).values[:, [-1]]
                    last = last.masked_fill(last < floor, float("-inf"))
                chosen = torch.multinomial(F.softmax(last, dim=-1), 1, generator=generator)
            ids = torch.cat([ids, chosen], dim=1)
        return ids


def copy_gpt2_weights(scratch: ScratchGPT, gpt2) -> ScratchGPT:
    """Give `scratch` the weights of a transformers GPT2LMHeadModel of the same shape. GPT-2
    stores its projections as Conv1D (in x out), so they are transposed into nn.Linear."""
    source = gpt2.transformer
    with torch.no_grad():
        scratch.tokens.weight.copy_(source.wte.weight)
        scratch.positions.weight.copy_(source.wpe.weight)
        for mine, theirs in zip(scratch.blocks, source.h, strict=True):
            pairs = [
                (mine.norm1, theirs.ln_1), (mine.norm2, theirs.ln_2),
                (mine.attention.qkv, theirs.attn.c_attn), (mine.attention.out, theirs.attn.c_proj),
                (mine.mlp.up, theirs.mlp.c_fc), (mine.mlp.down, theirs.mlp.c_proj),
            ]  # fmt: skip
            for target, origin in pairs:
                weight = origin.weight if isinstance(target, nn.LayerNorm) else origin.weight.T
                target.weight.copy_(weight)
                target.bias.copy_(origin.bias)
        scratch.norm.weight.copy_(source.ln_f.weight)
        scratch.norm.bias.copy_(source.ln_f.bias)
    return scratch
