"""The served subjects of a run under load, one row per subject and load level: latency
percentiles, throughput, goodput and failures, as a pandas table and as Markdown beside the
report (`<report>.serving.md`).

Every figure is the median over the level's load runs (the statistical unit: a load run's
requests share the server's state); `runs` is how many there were, and `spread` the fastest
load run's output tokens/s over the slowest's, so that a reader sees how far one run's figure
can be trusted. The SLO line gives the targets the goodput was counted against and the
highest load level that met them (`served_slo_concurrency`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmgauge.record.report import subject_of

COLUMNS = {
    # column: (metric, quantile or None, scale, format)
    "TTFT p50 (ms)": ("served_ttft_seconds", "p50", 1e3, "{:.0f}"),
    "TTFT p99 (ms)": ("served_ttft_seconds", "p99", 1e3, "{:.0f}"),
    "ITL p50 (ms)": ("served_itl_seconds", "p50", 1e3, "{:.1f}"),
    "ITL p99 (ms)": ("served_itl_seconds", "p99", 1e3, "{:.1f}"),
    "TPOT p50 (ms)": ("served_tpot_seconds", "p50", 1e3, "{:.1f}"),
    "e2e p50 (s)": ("served_e2e_seconds", "p50", 1, "{:.2f}"),
    "e2e p99 (s)": ("served_e2e_seconds", "p99", 1, "{:.2f}"),
    "output tokens/s": ("served_output_tokens_per_second", None, 1, "{:.1f}"),
    "requests/s": ("served_requests_per_second", None, 1, "{:.2f}"),
    "goodput (req/s)": ("served_goodput_requests_per_second", None, 1, "{:.2f}"),
    "failed": ("served_failed_requests", None, 1, "{:.0f}"),
    "answers differing": ("served_answers_differing_share", None, 1, "{:.2f}"),
}
THROUGHPUT = "served_output_tokens_per_second"


def served_subjects(document: dict) -> list[str]:
    """The subjects of the run that a server served (their `models` entry has `served`)."""
    return [name for name, entry in document["models"].items() if entry.get("served")]


def serving_frame(document: dict) -> pd.DataFrame:
    """Rows indexed by (subject, concurrency), one column per COLUMNS figure found (numbers,
    NaN where absent), plus `runs` and `spread` (see the module docstring)."""
    served = set(served_subjects(document))
    rows: dict[tuple, dict] = {}
    for result in document["results"]:
        subject, params = subject_of(result), result["params"]
        if subject not in served or "concurrency" not in params:
            continue
        row = rows.setdefault((subject, params["concurrency"]), {})
        for column, (metric, quantile, scale, _) in COLUMNS.items():
            if result["metric"] == metric and params.get("quantile") == quantile:
                row[column] = result["value"] * scale if result["value"] is not None else None
        samples = result.get("samples") or []
        if result["metric"] == THROUGHPUT and samples:
            row["runs"] = len(samples)
            positive = [sample for sample in samples if sample and sample > 0]
            row["spread"] = max(positive) / min(positive) if positive else None
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["subject", "concurrency"])
    ordered = [column for column in [*COLUMNS, "runs", "spread"] if column in frame.columns]
    return frame[ordered].sort_index()


def slo_lines(document: dict) -> list[str]:
    """The SLO the run counted goodput against, and each served subject's highest load level
    that met it."""
    slo = document["run"].get("options", {}).get("serving", {}).get("slo")
    lines = []
    if slo:
        lines.append(f"SLO: time to first token at most {slo['ttft_s'] * 1e3:g} ms and every gap "
                     f"between tokens at most {slo['itl_s'] * 1e3:g} ms")  # fmt: skip
    for result in document["results"]:
        if result["metric"] == "served_slo_concurrency":
            levels = result["params"].get("levels", "")
            met = int(result["value"])
            lines.append(f"{subject_of(result)}: met the SLO up to concurrency {met}"
                         if met else f"{subject_of(result)}: met the SLO at no load level")
            if levels:
                lines[-1] += f" (levels measured: {levels})"
    return lines


def serving_markdown(document: dict) -> str:
    frame = serving_frame(document)
    lines = ["# Served models under load", ""]
    lines += [f"- {line}" for line in slo_lines(document)]
    lines += ["- every figure: the median over the level's load runs (`runs`); `spread`: the "
              "fastest load run's output tokens/s over the slowest's", ""]  # fmt: skip
    if frame.empty:
        return "\n".join([*lines, "_no served figures_"]) + "\n"
    shown = frame.copy()
    for column, (_, _, _, form) in COLUMNS.items():
        if column in shown.columns:
            shown[column] = [form.format(v) if pd.notna(v) else "" for v in shown[column]]
    if "spread" in shown.columns:
        shown["spread"] = [f"{v:.2f}x" if pd.notna(v) else "" for v in shown["spread"]]
    return "\n".join(lines) + "\n" + shown.reset_index().to_markdown(index=False) + "\n"


def has_served(document: dict) -> bool:
    return bool(served_subjects(document))


def serving_path(report_path: Path) -> Path:
    return report_path.with_suffix(".serving.md")
