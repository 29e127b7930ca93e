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


def twice_problem(document: dict) -> str | None:
    """A sentence when the report holds one figure twice (made before RunRecorder refused
    that, or by other tools, or edited): which of the two to judge or store is unknown, and
    using one would leave the other unseen; None otherwise."""
    seen: dict[tuple, dict] = {}
    for result in document["results"]:
        key = result_key(result)
        if key in seen:
            return (f"the run report made {document.get('created_utc', '?')} holds "
                    f"{figure_words(key)} twice (values {seen[key]['value']} and "
                    f"{result['value']}): which one to judge is unknown; record each "
                    "measurement under its own params")  # fmt: skip
        seen[key] = result
    return None
