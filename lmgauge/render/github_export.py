"""Export a run report to the JSON that github-action-benchmark reads.

That action takes a list of {"name", "unit", "value", "range", "extra"} per tool, one tool for
"smaller is better" figures (customSmallerIsBetter) and one for "bigger is better"
(customBiggerIsBetter); figures whose direction is "exact" are not exported.
"""

from __future__ import annotations

TOOLS = {"lower": "customSmallerIsBetter", "higher": "customBiggerIsBetter"}


def benchmark_name(result: dict) -> str:
    parts = [result["model"] or "machine", result["bench"], result["metric"]]
    parts += [f"{key}={value}" for key, value in result["params"].items()]
    return " ".join(parts)


def github_benchmark_entries(document: dict, direction: str) -> list[dict]:
    """Entries for the tool of `direction` ("lower" or "higher"); range is the IQR when the
    figure has raw samples; extra names the flags."""
    if direction not in TOOLS:
        raise ValueError(f"direction must be one of {', '.join(TOOLS)}, got {direction!r}")
    entries = []
    for result in document["results"]:
        if result["direction"] != direction:
            continue
        entry = {"name": benchmark_name(result), "unit": result["unit"], "value": result["value"]}
        if result.get("summary", {}).get("iqr") is not None:
            entry["range"] = f"IQR {result['summary']['iqr']:.4g}"
        if result.get("flags"):
            entry["extra"] = "flags: " + ", ".join(result["flags"])
        entries.append(entry)
    return entries
