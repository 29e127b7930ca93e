"""Diversity of generated text: distinct-n across continuations, repetition within each.

Text is split into lower-cased words on whitespace, so the figures compare across tokenizers.
"""

from __future__ import annotations


def words(text: str) -> list[str]:
    return text.lower().split()


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[index : index + n]) for index in range(len(tokens) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct-n (Li et al., 2016): distinct word n-grams / all word n-grams, pooled over
    `texts`; 1.0 means no n-gram occurs twice, values near 0 mean the same phrases recur.
    0.0 when the texts hold no n-gram at all."""
    pooled = [gram for text in texts for gram in ngrams(words(text), n)]
    return len(set(pooled)) / len(pooled) if pooled else 0.0


def repetition_rate(text: str, n: int = 3) -> float:
    """Fraction of the word n-grams of `text` that already occurred earlier in `text`: 0.0 for
    text that never repeats itself, near 1.0 for a loop. 0.0 for text shorter than n words."""
    grams = ngrams(words(text), n)
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams) if grams else 0.0


def mean_repetition_rate(texts: list[str], n: int = 3) -> float:
    """repetition_rate averaged over `texts` (each text weighs the same)."""
    return sum(repetition_rate(text, n) for text in texts) / len(texts) if texts else 0.0
