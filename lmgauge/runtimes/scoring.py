"""Quality figures of a subject in whichever runtime it runs: its token ids and logits through
the runtime's calls, the figure through lmgauge.quality."""

from __future__ import annotations

from lmgauge import runtimes
from lmgauge.quality.perplexity import Perplexity, perplexity, scored_ids

BATCH_TEXTS = 32
"""Texts per forward pass where the runtime pads several into one (transformers)."""


def subject_perplexity(loaded, texts: list[str], batch_size: int = BATCH_TEXTS) -> Perplexity:
    """Perplexity of `texts` under `loaded` (lmgauge.quality.perplexity: each text cut to its
    first 128 token ids and scored on its own)."""
    ids = scored_ids(runtimes.token_ids(loaded, texts))
    return perplexity(runtimes.logits(loaded, ids, batch_size), ids)
