"""A Markdown summary of one run report, written beside its JSON (`<report>.md`).

It shows what ran and where, the headline figures per model in one table, the tests that did
not pass, and links to the text tables, pytest-benchmark's file and the gate's verdict.
"""

from __future__ import annotations

import math
from collections import Counter

import pandas as pd

from lmgauge.judge.gate import gate_verdict
from lmgauge.record.report import subject_of
from lmgauge.render.configs_table import charted_configs, has_configs
from lmgauge.render.cost_tables import chartable_scaling, has_costs, step_curves
from lmgauge.render.serving_table import has_served, slo_lines

QUICK_GENERATION = {"prompt_tokens": 128, "new_tokens": 32, "batch": 1}
SOME = object()  # a param that must be present, with any value
FROZEN_SVM = {"classifier": "svm-rbf", "split": "test", "features": "mean"}
HEADLINES = {
    # column: (metric, params that must match, scale, format)
    "parameters (M)": ("parameters_total", {}, 1e-6, "{:.1f}"),
    "weights (MB)": ("weight_bytes", {}, 1e-6, "{:.0f}"),
    "TTFT (ms)": ("ttft_seconds", QUICK_GENERATION, 1e3, "{:.0f}"),
    "decode step (ms)": ("decode_step_seconds", QUICK_GENERATION, 1e3, "{:.1f}"),
    "decode efficiency": ("decode_roofline_efficiency", QUICK_GENERATION, 1, "{:.2f}"),
    "forward 128 (ms)": ("forward_seconds", {"seq_len": 128, "batch": 1}, 1e3, "{:.1f}"),
    "forward peak (MB)": ("forward_peak_bytes", {"seq_len": 128}, 1e-6, "{:.0f}"),
    "known answers": ("known_answer_accuracy", {}, 1, "{:.3f}"),
    "perplexity": ("perplexity", {}, 1, "{:.1f}"),
    # mean-pooled features + SVM on the test split, trained on a subset of train (the quick
    # tier's) or on all of it (the slow tier's); a value of None matches a figure without it
    "frozen SVM (train subset)": ("baseline_accuracy", FROZEN_SVM | {"train_sentences": SOME}, 1,
                                  "{:.3f}"),
    "frozen SVM (full train)": ("baseline_accuracy", FROZEN_SVM | {"train_sentences": None}, 1,
                                "{:.3f}"),
}


def headline_table(document: dict) -> pd.DataFrame:
    """One row per model, one column per headline figure found (the first match of each). A
    column that matched a subset figure names the subset's size, e.g. `frozen SVM (800 train)`."""
    rows, renamed = {}, {}
    for name in document["models"]:
        row = {"weights": document["models"][name].get("weights", "")}
        for column, (metric, params, scale, form) in HEADLINES.items():
            found = first_match(document, name, metric, params)
            row[column] = form.format(found["value"] * scale) if found else ""
            if found and params.get("train_sentences") is SOME:
                sentences = found["params"]["train_sentences"]
                renamed[column] = column.replace("train subset", f"{sentences} train")
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame.loc[:, (frame != "").any(axis=0)].rename(columns=renamed)


def first_match(document: dict, subject: str, metric: str, params: dict) -> dict | None:
    """The first finite result of `metric` for `subject` whose params match `params` (SOME: the
    param is present; None: it is absent)."""
    for result in document["results"]:
        if result["metric"] != metric or not result["model"] or subject_of(result) != subject:
            continue
        if result.get("value") is None or not math.isfinite(result["value"]):
            continue
        if all(
            key in result["params"] if value is SOME else result["params"].get(key) == value
            for key, value in params.items()
        ):
            return result
    return None


def threshold_line(results: list[dict]) -> str | None:
    """One line on the quality figures judged against thresholds: how many pass, fail, and are
    unjudged (no threshold guards them), naming the unjudged ones by model and metric; None when
    no figure was judged."""
    verdicts = [r for r in results if r.get("threshold")]
    if not verdicts:
        return None
    counts = Counter(r["threshold"]["verdict"] for r in verdicts)
    line = ", ".join(f"{counts[v]} {v}" for v in ("pass", "fail", "unjudged") if counts[v])
    unjudged = Counter(
        (r["model"], r["metric"]) for r in verdicts if r["threshold"]["verdict"] == "unjudged"
    )
    if unjudged:
        names = ", ".join(f"{model} {metric} x{n}" for (model, metric), n in unjudged.items())
        line += f" (unjudged, no threshold in benches/thresholds.toml: {names})"
    return f"quality thresholds: {line}"


def subject_dtypes(document: dict, options: dict) -> str:
    """`dtype X` when every subject that says its dtype ran in X (the run's --dtype when none
    says: subjects that failed to load and --endpoint subjects do not), else each dtype with the
    subjects that ran in it (a GGUF file keeps its own)."""
    ran_in: dict[str, list[str]] = {}
    for name, entry in document.get("models", {}).items():
        if entry.get("dtype"):
            ran_in.setdefault(str(entry["dtype"]), []).append(name)
    if len(ran_in) <= 1:
        return f"dtype {next(iter(ran_in), options.get('dtype'))}"
    return "dtypes " + ", ".join(f"{dtype} ({', '.join(names)})" for dtype, names in ran_in.items())


def summary_markdown(document: dict, report_name: str) -> str:
    run, environment = document["run"], document["environment"]
    options = run.get("options", {})
    lines = [
        f"# lmgauge run {run.get('name') or report_name}",
        "",
        f"- report: `{report_name}`, status **{run['status']}**, {run.get('duration_s', 0):.0f} s",
        f"- machine: {environment.get('cpu_model')}, {environment.get('cpu_cores_physical')} "
        f"physical cores, GPU {environment.get('gpu') or 'none'}",
        f"- setup: device {options.get('device')}, {subject_dtypes(document, options)}, threads "
        f"{options.get('threads')}, torch {environment.get('libraries', {}).get('torch')}",
    ]
    calibration = document.get("calibration") or {}
    if calibration:
        lines.append(
            f"- roofs: memory read {calibration['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s, "
            f"matmul {calibration['matmul_flops_per_s'] / 1e9:.0f} GFLOP/s"
        )
    elif options.get("calibration") is False:
        lines.append("- roofs: not measured (--no-calibration): no roofline bounds or efficiencies")
    for key, label in (("benchmark_json", "pytest-benchmark file"), ("text_tables", "text tables")):
        if run.get(key):
            value = run[key] if isinstance(run[key], list) else [run[key]]
            lines.append(f"- {label}: " + ", ".join(f"`{item}`" for item in value))
    gate = run.get("gate")
    if gate:
        lines.append(f"- gate against `{gate['base']}`: {gate_verdict(gate)}")
    configs = run.get("options", {}).get("configs")
    if configs and has_configs(document):
        stem = report_name.removesuffix(".json")
        chart = (f", speed against quality in `{stem}.configs.png`"
                 if not charted_configs(document).empty else "")  # fmt: skip
        lines.append(f"- configurations {', '.join(configs)}: side by side in "
                     f"`{stem}.configs.md`{chart}")  # fmt: skip
    if has_costs(document):
        stem = report_name.removesuffix(".json")
        charts = [f"`{stem}.{name}.png`" for name, drawn in
                  (("cache_cost", step_curves(document)), ("scaling", chartable_scaling(document)))
                  if drawn]  # fmt: skip
        lines.append(f"- what generation and training cost: tables in `{stem}.costs.md`"
                     + (f", charts {' and '.join(charts)}" if charts else ""))  # fmt: skip
    if has_served(document):
        stem = report_name.removesuffix(".json")
        lines.append(
            f"- served under load: every load level in `{stem}.serving.md`, latency against "
            f"throughput in `{stem}.serving.png`"
        )
        lines += [f"  - {line}" for line in slo_lines(document)]
    thresholds = threshold_line(document["results"])
    if thresholds:
        lines.append(f"- {thresholds}")
    table = headline_table(document)
    lines += ["", "## Headline figures", ""]
    lines.append(table.to_markdown() if not table.empty else "_no figures_")
    not_passed = document.get("tests", {}).get("not_passed", [])
    counts = document.get("tests", {}).get("counts", {})
    lines += ["", "## Tests", "", ", ".join(f"{n} {outcome}" for outcome, n in counts.items())]
    failed = [t for t in not_passed if t["outcome"] == "failed"]
    lines += [f"- FAILED `{t['test']}`: {t['message']}" for t in failed]
    return "\n".join(lines) + "\n"
