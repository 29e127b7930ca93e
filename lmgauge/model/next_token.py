"""Anatomy of a causal LM's next-token prediction: hidden states -> LM head -> next token.

The base model turns (1, T) token ids into hidden states of shape (1, T, hidden size), one
tensor per layer plus the embedding output; the LM head maps the last of them to logits of
shape (1, T, vocabulary); the next token is the argmax of the logits at the last position.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NextToken:
    """hidden_shape / logits_shape: shapes of the base model's final hidden states and of the
    full model's logits; hidden_states: how many hidden-state tensors the base model returns
    (layers + 1); head_max_abs_difference: largest |LM head(final hidden states) - logits|, in
    logit units (0 when the head is the whole story; models with logit soft-capping differ);
    head_token_id: the argmax of the head's own logits at the last position; token_id / token:
    the argmax of the model's logits at the last position; probability: its softmax
    probability (0 to 1); top: the five likeliest tokens with their probabilities."""

    hidden_shape: tuple[int, ...]
    logits_shape: tuple[int, ...]
    hidden_states: int
    head_max_abs_difference: float
    head_token_id: int
    token_id: int
    token: str | None
    probability: float
    top: list[tuple[str | int, float]]


def dissect(loaded_model, input_ids) -> NextToken:
    """Run (1, T) `input_ids` through the base model and the LM head separately, then whole."""
    import torch

    model, tokenizer = loaded_model.model, loaded_model.tokenizer
    input_ids = input_ids.to(loaded_model.device)
    with torch.inference_mode():
        body = model.base_model(input_ids=input_ids, output_hidden_states=True)
        hidden = body.last_hidden_state
        from_head = model.get_output_embeddings()(hidden)
        logits = model(input_ids=input_ids).logits
    last = logits[0, -1].float()
    probabilities = torch.softmax(last, dim=-1)
    top = torch.topk(probabilities, 5)

    def name(token_id: int) -> str | int:
        return tokenizer.decode([token_id]) if tokenizer is not None else token_id

    token_id = int(top.indices[0])
    return NextToken(
        hidden_shape=tuple(hidden.shape),
        logits_shape=tuple(logits.shape),
        hidden_states=len(body.hidden_states),
        head_max_abs_difference=float((from_head.float() - logits.float()).abs().max()),
        head_token_id=int(from_head[0, -1].argmax()),
        token_id=token_id,
        token=tokenizer.decode([token_id]) if tokenizer is not None else None,
        probability=float(top.values[0]),
        top=[(name(int(i)), float(p)) for i, p in zip(top.indices, top.values, strict=True)],
    )
