"""What lmgauge ab's report (ab.json) and its readers share: the format's name, and how a reason
names the figure's row it is about ("gpt2 decode_step_seconds prompt_tokens=128: worse")."""

from __future__ import annotations

FORMAT = "lmgauge-ab-report"


def row_name(row: dict) -> str:
    """The name a figure's reason starts with: model, metric and params as text."""
    return f"{row['model']} {row['metric']} {row['params']}"


def reason_of(row: dict) -> str:
    """A failing figure's reason: its name and its verdict."""
    return f"{row_name(row)}: {row.get('verdict')}"


def failing_rows_by_reason(document: dict) -> dict[str, dict]:
    """Each failing figure's row under its reason (reason_of), as the report's reasons hold it."""
    return {reason_of(row): row for row in document.get("rows", []) if row.get("fails_gate")}
