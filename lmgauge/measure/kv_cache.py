"""The KV cache across transformers versions: since transformers 5.24 a forward pass takes and
returns it as `cache`; before, as `past_key_values` (deprecated in 5.24, removed in 5.40)."""

from __future__ import annotations

import inspect


def cache_keyword(model) -> str:
    """The keyword of `model.forward` that takes a KV cache."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_of(output):
    """The KV cache a forward pass returned (its `cache`, else its `past_key_values`)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def keeps_kv_cache(model) -> bool:
    """Whether `generate` keeps a KV cache for `model` (its config's `use_cache`): the
    from-scratch GPT does not, and recomputes the whole prefix at every step."""
    return bool(getattr(model.config, "use_cache", True))
