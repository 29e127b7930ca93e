"""How a figure is named across reports: (model, bench, metric, params as text)."""

from __future__ import annotations


def result_key(result: dict) -> tuple:
    return (result["model"], result["bench"], result["metric"], params_text(result["params"]))


def params_text(params: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())


def indexed(document: dict) -> dict[tuple, dict]:
    """Results by (model, bench, metric, params); a later duplicate replaces an earlier one."""
    return {result_key(result): result for result in document["results"]}
