"""What lmgauge ab's report (ab.json) and its readers share: the format's name, how a reason
names the figure's row it is about ("gpt2 decode_step_seconds prompt_tokens=128: worse"), and
what a reader checks before it trusts one (ab_problem)."""

from __future__ import annotations

from lmgauge.record.report import iso_time

FORMAT = "lmgauge-ab-report"
COMPLETE = "complete"
"""The status of an A/B run that ran its pairs (any other is why it did not)."""


def row_name(row: dict) -> str:
    """The name a figure's reason starts with: model, metric and params as text."""
    return f"{row['model']} {row['metric']} {row['params']}"


def reason_of(row: dict) -> str:
    """A failing figure's reason: its name and its verdict."""
    return f"{row_name(row)}: {row.get('verdict')}"


def failing_rows_by_reason(document: dict) -> dict[str, dict]:
    """Each failing figure's row under its reason (reason_of), as the report's reasons hold it."""
    return {reason_of(row): row for row in document.get("rows", []) if row.get("fails_gate")}


AB_SCHEMA_VERSIONS = (1, 2)
"""The ab.json versions this lmgauge reads (runs.ab_report.SCHEMA_VERSION writes the last)."""


def ab_problem(document: dict) -> str | None:
    """The first way `document` is not an A/B report as lmgauge ab writes it, in words, or None:
    the fields the store keeps must have their types, and a verdict of passed must give no
    reason and no failing figure, have status complete, have judged some figure and list its
    runs (lmgauge ab passes a run only then, so such a report was edited). A failed verdict
    without a reason is kept as failed: it stores safely."""
    version = document.get("schema_version", 1)
    if type(version) is not int or version not in AB_SCHEMA_VERSIONS:
        return (f"schema_version {version!r} is not one this lmgauge reads "
                f"({', '.join(map(str, AB_SCHEMA_VERSIONS))})")  # fmt: skip
    expected = {"status": str, "passed": bool, "sides": dict, "rows": list}
    for name, kind in expected.items():
        if not isinstance(document.get(name), kind):
            return f"{name} is {document.get(name)!r}, not a {kind.__name__}"
    if not all(isinstance(row, dict) and {"model", "metric", "params"} <= set(row)
               for row in document["rows"]):  # fmt: skip
        return "a row is not a figure (model, metric and params)"
    if not all(isinstance(document["sides"].get(side), dict) for side in ("base", "new")):
        return "sides lacks its base or new side"
    made = document.get("created_utc")
    if "created_utc" in document and (not isinstance(made, str) or iso_time(made) is None):
        return f"created_utc {made!r} is not an ISO 8601 time"
    pairs = document.get("pairs")
    if type(pairs) is not int or pairs < 0:
        return f"pairs is {pairs!r}, not a count"
    reasons = document.get("reasons")
    if reasons is not None and not isinstance(reasons, list):
        return f"reasons is {reasons!r}, not a list"
    failing = bool(reasons) or any(row.get("fails_gate") for row in document["rows"])
    if document["passed"] and failing:
        return "it says passed, yet it gives reasons or failing figures"
    if document["passed"] and document["status"] != COMPLETE:
        return f"it says passed, yet its status is {document['status']!r}, not {COMPLETE!r}"
    for name in ("runs", "created_utc", *(("judged", "reasons") if version >= 2 else ())):
        if name not in document:
            return f"{name} is missing, which lmgauge ab writes in version {version}"
    judged, runs = document.get("judged", 1), document["runs"]
    if document["passed"] and not (type(judged) is int and judged > 0):
        return f"it says passed, yet judged is {judged!r}: an A/B run that judged nothing fails"
    if document["passed"] and not (isinstance(runs, list) and runs):
        return "it says passed, yet it lists no runs"
    return None
