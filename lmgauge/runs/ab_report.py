"""The A/B report: every figure of the paired runs judged pair by pair, as JSON and Markdown.

Format history (`format`: lmgauge-ab-report):
  1 (lmgauge 0.3): first version: status, sides, pytest arguments, runs (side, pair, report,
    exit status, seconds), rows (one per figure: model, bench, metric, params, unit, base and
    new medians over runs, per-run values, paired ratio with its 95 % interval, p-value,
    verdict, gated, fails_gate, note), passed.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timezone

import pandas as pd

from lmgauge import __version__
from lmgauge.judge.compare import indexed
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.paired import judge_paired
from lmgauge.runs.ab_run import RunRecord

FORMAT = "lmgauge-ab-report"
SCHEMA_VERSION = 1


def paired_rows(base_runs: list[dict], new_runs: list[dict], rules: GateRules) -> list[dict]:
    """One judged row per figure present in every run of both sides."""
    base_index = [indexed(document) for document in base_runs]
    new_index = [indexed(document) for document in new_runs]
    everywhere = set.intersection(*(set(index) for index in base_index + new_index))
    rows = []
    for key in sorted(everywhere, key=str):
        model, bench, metric, params = key
        base = [index[key]["value"] for index in base_index]
        new = [index[key]["value"] for index in new_index]
        first = new_index[0][key]
        judgement = judge_paired(base, new, first["unit"], first["direction"], metric, rules)
        rule = rules.rule_for(metric, first["unit"])
        rows.append(
            {
                "model": model,
                "bench": bench,
                "metric": metric,
                "params": params,
                "unit": first["unit"],
                "base": float(pd.Series(base).median()),
                "new": float(pd.Series(new).median()),
                "base_runs": base,
                "new_runs": new,
                "gated": rule.gated,
                **asdict(judgement),
            }  # fmt: skip
        )
    return rows


def ab_document(
    sides: dict, pytest_arguments: list[str], records: list[RunRecord], status: str,
    rows: list[dict],
) -> dict:  # fmt: skip
    """The A/B report document."""
    failing = [row for row in rows if row["fails_gate"]]
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "lmgauge_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(),
        "status": status,
        "passed": status == "complete" and not failing,
        "sides": sides,
        "pytest_arguments": pytest_arguments,
        "pairs": min(sum(r["side"] == s for r in runs_of(records)) for s in ("base", "new")),
        "runs": runs_of(records),
        "rows": [{k: clean(v) for k, v in row.items()} for row in rows],
    }


def runs_of(records: list[RunRecord]) -> list[dict]:
    return [
        {
            **asdict(record),
            "report": str(record.report) if record.report else None,
            "log": str(record.log),
        }  # fmt: skip
        for record in records
    ]


def clean(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def verdict_line(document: dict) -> str:
    """'lmgauge ab: PASSED ...' or 'FAILED: n of m gated figures worse' with the failures."""
    rows = document["rows"]
    gated = sum(row["gated"] for row in rows)
    failing = [row for row in rows if row["fails_gate"]]
    head = f"{document['pairs']} pairs"
    if document["status"] != "complete":
        head += f", {document['status']}"
    if not failing:
        return f"lmgauge ab: PASSED ({head}; {gated} gated figures, none worse)"
    lines = [f"lmgauge ab: FAILED ({head}): {len(failing)} of {gated} gated figures worse"]
    lines += [
        f"  {row['model']} {row['metric']} {row['params']}: {describe(row)}" for row in failing
    ]
    return "\n".join(lines)


def describe(row: dict) -> str:
    interval = (
        f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" if row.get("ci_low") is not None else ""
    )
    p_value = f", p = {row['p_value']:.3g}" if row.get("p_value") is not None else ""
    change = f"{row['base']:.4g} -> {row['new']:.4g} {row['unit']}, ratio {row['ratio']:.3f}"
    return change + interval + p_value


def ab_markdown(document: dict) -> str:
    """The A/B report as Markdown: the sides, the verdict, and the table of figures."""
    sides = document["sides"]
    lines = [
        "# lmgauge A/B run",
        "",
        f"- base: {sides['base']['description']} {' '.join(sides['base']['arguments'])}",
        f"- new: {sides['new']['description']} {' '.join(sides['new']['arguments'])}",
        f"- pytest arguments: `{' '.join(document['pytest_arguments'])}`",
        f"- runs: {len(document['runs'])} interleaved (A B B A ...), {document['pairs']} pairs; "
        f"status {document['status']}",
        "",
        "```",
        verdict_line(document),
        "```",
        "",
        "Ratio: new / base, the mean of per-pair log ratios for timings (the ratio of medians "
        "otherwise), with its 95 % t interval; p: one-sided paired t-test over the pairs. Only "
        "gated figures can fail; the others are shown.",
        "",
    ]
    if document["rows"]:
        frame = pd.DataFrame(document["rows"])
        columns = ["model", "metric", "params", "unit", "base", "new", "ratio", "ci_low",
                   "ci_high", "p_value", "verdict", "gated"]  # fmt: skip
        lines.append(frame[columns].to_markdown(index=False, floatfmt=".4g"))
    return "\n".join(lines) + "\n"
