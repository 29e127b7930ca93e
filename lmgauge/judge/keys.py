"""A report's results by figure name (lmgauge.record.keys), for judging."""

from __future__ import annotations

from lmgauge.errors import ReportError
from lmgauge.record.keys import params_text, result_key, twice_problem

__all__ = ["indexed", "params_text", "result_key"]


def indexed(document: dict) -> dict[tuple, dict]:
    """Results by (model, bench, metric, params); ReportError in one sentence when a report
    holds one figure twice (twice_problem: reports read from files are refused so already)."""
    if problem := twice_problem(document):
        raise ReportError(f"{problem}.")
    return {result_key(result): result for result in document["results"]}
