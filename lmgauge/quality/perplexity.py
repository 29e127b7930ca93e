"""Perplexity of a causal LM on a list of texts, each scored on its own.

Every text is tokenized as the tokenizer does by default (with its BOS token when it adds
one) and scored from its second token on: the loss of predicting each token from the ones
before it. Perplexity = exp(total negative log-likelihood / scored tokens), so long texts
weigh by their length. Padding is on the right and masked out of the loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from lmgauge.sources.prompts import padding


@dataclass(frozen=True)
class Perplexity:
    """nll_nats: summed negative log-likelihood in nats; tokens: tokens scored; seconds: wall
    time of the scoring passes."""

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


def perplexity(
    loaded_model, texts: list[str], batch_size: int = 32, max_length: int = 128
) -> Perplexity:
    """Perplexity of `texts` under the loaded causal LM (texts truncated to `max_length`)."""
    import torch

    tokenizer, model = loaded_model.tokenizer, loaded_model.model
    texts = sorted(texts, key=len)
    nll, tokens = 0.0, 0
    started = time.perf_counter()
    with torch.inference_mode(), padding(tokenizer, "right"):
        for start in tqdm(range(0, len(texts), batch_size), desc="perplexity", unit="batch"):
            batch = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(loaded_model.device)
            scored = batch["attention_mask"][:, 1:].bool()
            logits = model(**batch).logits[:, :-1][scored].float()
            targets = batch["input_ids"][:, 1:][scored]
            nll += float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum"))
            tokens += int(scored.sum())
    return Perplexity(nll, tokens, len(texts), time.perf_counter() - started)
