"""Inputs of exact token lengths, built before any timed region.

With a tokenizer, prompts are real English (a fixed passage, repeated as needed) cut to the
exact length; without one (synthetic weights), token ids are drawn from a seeded generator.
Batched decoder inputs are left-padded with an attention mask, as generation needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

PASSAGE = (
    "The history of computing is a story of people trying to make machines do arithmetic "
    "faster than any clerk could. Early mechanical calculators added and multiplied with gears; "
    "later, relays and vacuum tubes made programmable machines possible, and the transistor made "
    "them small and cheap. Language models are the latest turn of that story: programs that read "
    "a sequence of words and predict the next one, trained on more text than a person could read "
    "in many lifetimes. Whether they understand anything is argued about; that they are useful, "
    "and that they are expensive to run, is not. "
)

SEED = 0


def prompt_ids(tokenizer, length: int, vocab_size: int, batch: int = 1, seed: int = SEED):
    """A (batch, length) LongTensor of prompt token ids; every row has exactly `length` tokens."""
    import torch

    if tokenizer is None:
        generator = torch.Generator().manual_seed(seed)
        return torch.randint(0, vocab_size, (batch, length), generator=generator)
    ids = tokenizer(PASSAGE, add_special_tokens=False)["input_ids"]
    stream = ids * ((length + batch) // len(ids) + 1)
    return torch.tensor([stream[row : row + length] for row in range(batch)], dtype=torch.long)


def ragged_batch(
    tokenizer, lengths: list[int], vocab_size: int, pad_token_id: int, seed: int = SEED
):
    """Left-padded (input_ids, attention_mask) for prompts of the given lengths."""
    import torch

    longest = max(lengths)
    full = prompt_ids(tokenizer, longest, vocab_size, batch=len(lengths), seed=seed)
    input_ids = torch.full_like(full, pad_token_id)
    mask = torch.zeros_like(full)
    for row, length in enumerate(lengths):
        input_ids[row, longest - length :] = full[row, :length]
        mask[row, longest - length :] = 1
    return input_ids, mask


def pad_token_id(tokenizer, config) -> int:
    """The pad id to use: the tokenizer's, else its eos, else the config's pad or eos, else 0.
    The tokenizer is left as it is."""
    candidates = (
        getattr(tokenizer, "pad_token_id", None),
        getattr(tokenizer, "eos_token_id", None),
        getattr(config, "pad_token_id", None),
        getattr(config, "eos_token_id", None),
    )
    return next((c for c in candidates if isinstance(c, int)), 0)


@contextmanager
def padding(tokenizer, side: str) -> Iterator[None]:
    """Inside the block the tokenizer pads on `side` ("left" for generation, "right" for
    scoring), with its eos token as pad when it has no pad token; after it, both are back as
    they were, since the tokenizer is shared by every bench of the model."""
    pad_token, padding_side = tokenizer.pad_token, tokenizer.padding_side
    if pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = side
    try:
        yield
    finally:
        tokenizer.pad_token, tokenizer.padding_side = pad_token, padding_side


def model_inputs(loaded_model, tokens: int, batch: int = 1):
    """(input_ids, attention_mask) of `batch` full-length prompts on the model's device."""
    import torch

    vocab = loaded_model.model.get_input_embeddings().weight.shape[0]
    ids = prompt_ids(loaded_model.tokenizer, tokens, vocab, batch=batch).to(loaded_model.device)
    return ids, torch.ones_like(ids)


def context_shortfall(loaded_model, tokens: int) -> str | None:
    """Why `tokens` positions do not fit the model, or None when they do."""
    limit = getattr(loaded_model.model.config, "max_position_embeddings", None)
    if limit is not None and tokens > limit:
        return f"{loaded_model.name} holds {limit} positions; this shape needs {tokens}"
    return None
