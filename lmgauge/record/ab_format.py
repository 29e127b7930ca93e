"""What lmgauge ab's report (ab.json) and its readers share: the format's name, and how a reason
names the figure's row it is about ("gpt2 decode_step_seconds prompt_tokens=128: worse")."""

from __future__ import annotations

FORMAT = "lmgauge-ab-report"


def row_name(row: dict) -> str:
    """The name a figure's reason starts with: model, metric and params as text."""
    return f"{row['model']} {row['metric']} {row['params']}"


def reason_of(row: dict) -> str:
    """A failing figure's reason: its name and its verdict."""
    return f"{row_name(row)}: {row['verdict']}"


def failing_rows_by_reason(document: dict) -> dict[str, dict]:
    """Each reason of the report that names a failing figure, with that figure's row."""
    failing = {row_name(row): row for row in document.get("rows", []) if row.get("fails_gate")}
    found = {}
    for reason in map(str, reasons(document)):
        row = failing.get(reason.rsplit(":", 1)[0])
        if row is not None:
            found[reason] = row
    return found


def reasons(document: dict) -> list:
    """The report's reasons ([] when it has none, or a report from before `reasons`)."""
    found = document.get("reasons")
    return found if isinstance(found, list) else []
