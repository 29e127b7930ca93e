"""A Comparison as text for a terminal, Markdown, or CSV."""

from __future__ import annotations

import math

import pandas as pd

from lmgauge.judge.compare import Comparison
from lmgauge.judge.verdicts import NOT_COMPARABLE, NOT_JUDGED, SAME

FORMATS = ("text", "markdown", "csv")
SHOWN = ["model", "metric", "params", "base", "new", "unit", "raw", "change", "p",
         "ratio 95% CI", "verdict", "gate"]  # fmt: skip


def number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}"


def display_frame(rows: pd.DataFrame) -> pd.DataFrame:
    frame = rows.copy()
    frame["base"] = frame["base"].map(number)
    frame["new"] = frame["new"].map(number)
    frame["p"] = [
        number(p) if math.isnan(adjusted) else f"{number(p)} (Holm {number(adjusted)})"
        for p, adjusted in zip(frame["p_value"], frame["p_adjusted"], strict=True)
    ]
    frame["raw"] = [
        "" if math.isnan(raw) or abs(raw - ratio) < 1e-9 else f"{raw:.3g}x"
        for raw, ratio in zip(frame["raw_ratio"], frame["ratio"], strict=True)
    ]
    frame["ratio 95% CI"] = [
        "" if math.isnan(low) else f"{low:.3g}-{high:.3g}"
        for low, high in zip(frame["ci_low"], frame["ci_high"], strict=True)
    ]
    frame["gate"] = ["FAIL" if fails else "" for fails in frame["fails_gate"]]
    return frame[SHOWN]


def header(comparison: Comparison) -> list[str]:
    lines = [f"base: {comparison.base_name}", f"new:  {comparison.new_name}"]
    if comparison.hardware:
        lines.append("machines differ (raw times and throughputs are not compared):")
        lines += [f"  {line}" for line in comparison.hardware]
    if comparison.setup:
        lines.append("setup differs (raw times are compared: this may be what changed):")
        lines += [f"  {line}" for line in comparison.setup]
    if comparison.drift:
        lines.append("the machine's calibrated speed moved:")
        lines += [f"  {line}" for line in comparison.drift]
    counts = comparison.rows["verdict"].value_counts()
    lines.append("verdicts: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items()))
    if comparison.tests:
        lines.append("tests lost in new (failed, and not in base; or skipped, and passed in base):")
        lines += [f"  {line}" for line in comparison.tests]
    if comparison.tests_failed_before:
        lines.append("tests that failed in both:")
        lines += [f"  {line}" for line in comparison.tests_failed_before]
    lines.append(
        "raw: new / base as measured, where excuses (speed probe, busy) changed it; change and "
        "verdict are on the normalised ratio"
    )
    return lines


def unjudged_reasons(rows: pd.DataFrame, most: int = 3) -> list[str]:
    """Why the figures in `rows` that were not judged or not comparable were not: one line per
    reason, naming up to `most` of the figures it covers."""
    picked = rows[rows["verdict"].isin([NOT_JUDGED, NOT_COMPARABLE]) & (rows["note"] != "")]
    figures: dict[str, list[str]] = {}
    for row in picked.itertuples():
        figures.setdefault(row.note, []).append(f"{row.model} {row.metric} {row.params}".strip())
    lines = []
    for note, names in figures.items():
        more = f" and {len(names) - most} more" if len(names) > most else ""
        lines.append(f"{note}: {', '.join(names[:most])}{more}")
    return lines


def render(comparison: Comparison, form: str = "text", everything: bool = False) -> str:
    """The comparison in `form`; text and Markdown leave out "same" rows unless `everything`."""
    if form == "csv":
        return comparison.rows.to_csv(index=False)
    rows = comparison.rows
    if not everything:
        rows = rows[rows["verdict"] != SAME]
    table = display_frame(rows)
    reasons = unjudged_reasons(rows)
    if form == "markdown":
        lines = "\n".join(f"- {line}" for line in header(comparison))
        body = table.to_markdown(index=False) if len(table) else "_every figure is the same_"
        why = "".join(f"\n- {line}" for line in reasons)
        why = f"\nNot judged or not comparable, and why:\n{why}\n" if why else ""
        return f"# lmgauge compare\n\n{lines}\n\n{body}\n{why}"
    body = table.to_string(index=False) if len(table) else "every figure is the same"
    why = "".join(f"\n  {line}" for line in reasons)
    return ("\n".join(header(comparison)) + "\n\n" + body + "\n"
            + (f"\nnot judged or not comparable, and why:{why}\n" if why else ""))
