"""How a figure is named across reports: (model, bench, metric, params as text). One run records
each figure once (RunRecorder.record refuses a second), so the name finds one result."""

from __future__ import annotations


def result_key(result: dict) -> tuple:
    return (result["model"], result["bench"], result["metric"], params_text(result["params"]))


def params_text(params: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())


def figure_words(key: tuple) -> str:
    """A figure's name in a sentence: "decode_step_seconds of gpt2 (prompt_tokens=128)"."""
    model, _, metric, params = key
    return f"{metric}{f' of {model}' if model else ''}{f' ({params})' if params else ''}"
