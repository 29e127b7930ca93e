"""Token ids of text for runtimes that do not tokenize as transformers does (llama.cpp, ONNX
Runtime GenAI): the transformers tokenizer of the same files, loaded once per model, so that a
figure such as perplexity is computed on the same ids in every runtime."""

from __future__ import annotations

from typing import Any

from lmgauge.errors import ModelLoadError, NotApplicable

_TOKENIZERS: dict[tuple[str, str], Any] = {}
"""The transformers tokenizer of each model's files, by (source, location), loaded once."""


def reference_token_ids(loaded, texts: list[str]) -> list[list[int]]:
    """The ids the transformers tokenizer of `loaded`'s files makes (as it does by default: no
    BOS for SmolLM2); NotApplicable when the model has no such tokenizer."""
    from lmgauge.sources.loading import reference_tokenizer

    key = (loaded.spec.source, loaded.spec.location)
    try:
        if key not in _TOKENIZERS:
            _TOKENIZERS[key] = reference_tokenizer(loaded.spec)
        tokenizer = _TOKENIZERS[key]
    except ModelLoadError as error:
        raise NotApplicable(f"no transformers tokenizer to make the same token ids with: "
                            f"{error}") from None  # fmt: skip
    if tokenizer is None:
        raise NotApplicable(f"{loaded.name} has no transformers tokenizer to make the same token "
                            f"ids with")  # fmt: skip
    return [tokenizer(text)["input_ids"] for text in texts]
