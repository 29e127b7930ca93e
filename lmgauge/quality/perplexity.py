"""Perplexity of a causal LM on a list of texts, each scored on its own.

Each text's token ids (as the model's tokenizer makes them by default, with its BOS token when
it adds one) are scored from the second token on: the loss of predicting each token from the
ones before it, from the logits of whichever runtime ran them (lmgauge.runtimes.logits).
Perplexity = exp(total negative log-likelihood / scored tokens), so long texts weigh by their
length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from tqdm.auto import tqdm

from lmgauge.quality.fidelity import next_token_nll

MAX_TOKENS = 128
"""Texts are cut to their first MAX_TOKENS token ids before scoring."""


@dataclass(frozen=True)
class Perplexity:
    """nll_nats: summed negative log-likelihood in nats; tokens: tokens scored; seconds: wall
    time of the scoring passes and the loss."""

    nll_nats: float
    tokens: int
    texts: int
    seconds: float

    @property
    def nats_per_token(self) -> float:
        return self.nll_nats / self.tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_token)


def scored_ids(ids: list[list[int]], max_tokens: int = MAX_TOKENS) -> list[list[int]]:
    """Each id list cut to its first `max_tokens` ids, shortest first (so that batched passes
    pad little), texts with fewer than two tokens left out (nothing to predict). For causal LMs
    whose tokenizer adds nothing at the end (GPT-2, SmolLM2) this is the tokenizer's own
    right-side truncation."""
    return sorted((row[:max_tokens] for row in ids if len(row) > 1), key=len)


def perplexity(logits: Iterable, ids: list[list[int]]) -> Perplexity:
    """Perplexity of `ids` under `logits`, an iterable of (tokens x vocab) tensors in the same
    order (consumed here, so a lazy runtime iterator is timed too)."""
    import torch

    started = time.perf_counter()
    nll = 0.0
    rows = tqdm(zip(logits, ids, strict=True), total=len(ids), desc="perplexity", unit="text")
    for scores, row in rows:
        nll += next_token_nll(scores, torch.tensor(row[1:]))
    tokens = sum(len(row) - 1 for row in ids)
    return Perplexity(nll, tokens, len(ids), time.perf_counter() - started)
