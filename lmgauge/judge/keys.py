"""A report's results by figure name (lmgauge.record.keys), for judging."""

from __future__ import annotations

from lmgauge.errors import ReportError
from lmgauge.record.keys import figure_words, params_text, result_key

__all__ = ["indexed", "params_text", "result_key"]


def indexed(document: dict) -> dict[tuple, dict]:
    """Results by (model, bench, metric, params); ReportError in one sentence when a report
    holds one figure twice (made before RunRecorder refused that, or by other tools): which of
    the two to judge is unknown, and judging one would leave the other unseen."""
    index: dict[tuple, dict] = {}
    for result in document["results"]:
        key = result_key(result)
        if key in index:
            created = document.get("created_utc", "?")
            raise ReportError(
                f"the run report made {created} holds {figure_words(key)} twice (values "
                f"{index[key]['value']} and {result['value']}): which one to judge is unknown; "
                f"record each measurement under its own params."
            )
        index[key] = result
    return index
