"""Continuations of text prompts from a causal LM: greedy, or seeded temperature sampling.

Prompts go through generate as one left-padded batch. Sampling is pure temperature sampling
(top-k and top-p switched off), seeded, so a temperature is the only thing that varies and the
same seed gives the same text on the same machine and library versions.
"""

from __future__ import annotations

import contextlib

from lmgauge.compute import seeded
from lmgauge.sources.prompts import pad_token_id, padding


def continue_texts(
    loaded_model,
    prompts: list[str],
    max_new_tokens: int,
    temperature: float | None = None,
    seed: int = 0,
) -> list[str]:
    """The text each prompt is continued with (special tokens dropped, prompt not included).

    temperature None: greedy decoding; otherwise sampling at that temperature with torch's
    generators seeded with `seed` (and restored after). Generation stops at `max_new_tokens`
    or the end-of-sequence token.
    """
    import torch

    tokenizer, model = loaded_model.tokenizer, loaded_model.model
    pad = pad_token_id(tokenizer, model.config)
    with padding(tokenizer, "left"):
        batch = tokenizer(list(prompts), return_tensors="pt", padding=True)
    batch = batch.to(loaded_model.device)
    if temperature is None:
        decoding, randomness = {"do_sample": False, "num_beams": 1}, contextlib.nullcontext()
    else:
        decoding = {"do_sample": True, "num_beams": 1, "temperature": temperature, "top_k": 0,
                    "top_p": 1.0}  # fmt: skip
        randomness = seeded(seed, loaded_model.device)
    with torch.inference_mode(), randomness:
        output = model.generate(
            **batch, max_new_tokens=max_new_tokens, pad_token_id=pad, **decoding
        )
    new_tokens = output[:, batch["input_ids"].shape[1] :]
    return tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
