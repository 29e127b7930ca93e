"""The served subjects of a run under load, one row per subject and load level: latency
percentiles, throughput, goodput and failures, as a pandas table and as Markdown beside the
report (`<report>.serving.md`).

Every figure is the median over the level's load runs (the statistical unit: a load run's
requests share the server's state), but failed requests (the most in one run) and the TTFT
growth (the least, what bench_serve's saturation test reads); `runs` is how many there were, and
`spread`, for the closed loop, the fastest load run's output tokens/s over the slowest's, so
that a reader sees how far one run's figure can be trusted (an open loop's throughput follows
its seeded arrival schedule, so its spread is not the server's). The SLO line gives the targets
the goodput was counted against and the highest load level that met them
(`served_slo_concurrency`).
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
    "failed (most in a run)": ("served_failed_requests", None, 1, "{:.0f}"),
    "TTFT growth (least)": ("served_ttft_growth", None, 1, "{:.2f}"),
    "answers differing": ("served_answers_differing_share", None, 1, "{:.2f}"),
}
THROUGHPUT = "served_output_tokens_per_second"
WHOLE_RUN_VIEW = {"served_failed_requests": max, "served_ttft_growth": min}
"""Figures shown as the worst (failures) or least (TTFT growth: the saturation test's own
reading) over the load runs, not their median; the report keeps the median as the value."""


def served_subjects(document: dict) -> list[str]:
    """The subjects of the run that a server served (their `models` entry has `served`)."""
    return [name for name, entry in document["models"].items() if entry.get("served")]


LOOPS = {"concurrency": "closed", "request_rate": "open"}
"""The parameter that names a load level, and its loop."""


def level_label(loop: str, load: float) -> str:
    """How a load level is written on the chart: `c=4` (users) or `2/s` (requests/s)."""
    return f"c={load:g}" if loop == "closed" else f"{load:g}/s"


def serving_frame(document: dict) -> pd.DataFrame:
    """Rows indexed by (subject, loop, load): loop "closed" (load: concurrency) or "open"
    (load: requests/s), one column per COLUMNS figure found (numbers, NaN where absent), plus
    `runs` and `spread` (see the module docstring)."""
    served = set(served_subjects(document))
    rows: dict[tuple, dict] = {}
    for result in document["results"]:
        subject, params = subject_of(result), result["params"]
        axis = next((name for name in LOOPS if name in params), None)
        if subject not in served or axis is None:
            continue
        row = rows.setdefault((subject, LOOPS[axis], params[axis]), {})
        samples = result.get("samples") or []
        for column, (metric, quantile, scale, _) in COLUMNS.items():
            if result["metric"] == metric and params.get("quantile") == quantile:
                view = WHOLE_RUN_VIEW.get(metric)
                value = view(samples) if view and samples else result["value"]
                row[column] = value * scale if value is not None else None
        if result["metric"] == THROUGHPUT and samples and axis == "concurrency":
            row["runs"] = len(samples)
            positive = [sample for sample in samples if sample and sample > 0]
            row["spread"] = max(positive) / min(positive) if positive else None
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["subject", "loop", "load"])
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
    said = {
        "served_slo_concurrency": ("met the SLO up to concurrency {:g}",
                                   "met the SLO at no concurrency"),
        "served_slo_request_rate": ("met the SLO up to {:g} requests/s",
                                    "met the SLO at no request rate"),
        "served_saturation_concurrency": ("saturated past concurrency {:g}", ""),
        "served_saturation_request_rate": ("kept up with at most {:g} requests/s",
                                           "kept up with no request rate of the sweep"),
    }  # fmt: skip
    for result in document["results"]:
        if result["metric"] in said:
            some, none = said[result["metric"]]
            line = some.format(result["value"]) if result["value"] else none
            levels = result["params"].get("levels", "")
            lines.append(f"{subject_of(result)}: {line}"
                         + (f" (levels measured: {levels})" if levels else ""))  # fmt: skip
    return lines


def serving_markdown(document: dict) -> str:
    frame = serving_frame(document)
    lines = ["# Served models under load", ""]
    lines += [f"- {line}" for line in slo_lines(document)]
    lines += ["- every figure: the median over the level's load runs (`runs`), failures the most "
              "in one run, TTFT growth the least; `spread` (closed loop): the fastest load run's "
              "output tokens/s over the slowest's", ""]  # fmt: skip
    if frame.empty:
        return "\n".join([*lines, "_no served figures_"]) + "\n"
    shown = frame.copy()
    for column, (_, _, _, form) in COLUMNS.items():
        if column in shown.columns:
            shown[column] = [form.format(v) if pd.notna(v) else "" for v in shown[column]]
    if "spread" in shown.columns:
        shown["spread"] = [f"{v:.2f}x" if pd.notna(v) else "" for v in shown["spread"]]
    shown = shown.reset_index()
    pairs = zip(shown["loop"], shown["load"], strict=True)
    shown["load"] = [level_label(loop, load) for loop, load in pairs]
    return "\n".join(lines) + "\n" + shown.to_markdown(index=False) + "\n"


def has_served(document: dict) -> bool:
    return bool(served_subjects(document))


def serving_path(report_path: Path) -> Path:
    return report_path.with_suffix(".serving.md")
