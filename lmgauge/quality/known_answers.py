"""Known-answer prompts: short factual or sequence prompts whose next word is not in doubt.

A prompt counts as answered when the first word of the model's greedy continuation, stripped
of punctuation and case, is the expected word. The set mixes prompts a 135 M-parameter model
gets right with some it gets wrong, so the score can move both ways.
"""

from __future__ import annotations

import string

KNOWN_ANSWERS: tuple[tuple[str, str], ...] = (
    ("The capital of France is", "Paris"),
    ("The capital of Germany is", "Berlin"),
    ("The capital of Italy is", "Rome"),
    ("The capital of Japan is", "Tokyo"),
    ("The capital of Spain is", "Madrid"),
    ("The Eiffel Tower is in the city of", "Paris"),
    ("The largest planet in the solar system is", "Jupiter"),
    ("The chemical symbol for gold is", "Au"),
    ("Water is made of hydrogen and", "oxygen"),
    ("Two plus two equals", "four"),
    ("The opposite of hot is", "cold"),
    ("Monday, Tuesday,", "Wednesday"),
    ("One, two, three, four,", "five"),
    ("The first president of the United States was", "George"),
    ("The freezing point of water is 0 degrees", "Celsius"),
    ("Romeo and Juliet was written by", "William"),
)

PROMPTS = tuple(prompt for prompt, _ in KNOWN_ANSWERS)
ANSWERS = tuple(answer for _, answer in KNOWN_ANSWERS)
CONTINUATION_TOKENS = 6


def first_word(text: str) -> str:
    """The first whitespace-separated word of `text`, lower-cased, punctuation stripped."""
    parts = text.split()
    return parts[0].strip(string.punctuation).lower() if parts else ""


def answered(continuation: str, answer: str) -> bool:
    return first_word(continuation) == answer.lower()


def score(continuations: list[str], answers: list[str]) -> float:
    """Fraction of continuations whose first word is the expected answer (0.0 to 1.0)."""
    if len(continuations) != len(answers):
        raise ValueError(f"{len(continuations)} continuations for {len(answers)} answers")
    hits = [answered(text, answer) for text, answer in zip(continuations, answers, strict=True)]
    return sum(hits) / len(hits) if hits else 0.0
