"""PNG charts of run reports (matplotlib, no display needed).

One report: the course's scaling comparison and the cost of no KV cache
(lmgauge.render.cost_charts), batch-size scaling curves (full tier), and decode time against
its roofline bound.
Two reports (BASE NEW): the ratio new / base of every latency figure, with its 95 % interval
and coloured by verdict.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lmgauge.record.report import read_report, values_by_model  # noqa: E402
from lmgauge.render.cost_tables import QUICK_DECODE as QUICK  # noqa: E402

VERDICT_COLOURS = {"worse": "tab:red", "better": "tab:green", "same": "tab:gray"}


def batch_chart(document: dict, path: Path) -> Path | None:
    curves: dict[str, dict[int, float]] = {}
    for result in document["results"]:
        if result["metric"] == "batch_throughput" and "batch" in result["params"]:
            curves.setdefault(result["model"], {})[result["params"]["batch"]] = result["value"]
    if not curves:
        return None
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for model, points in curves.items():
        batches = sorted(points)
        axes.plot(batches, [points[b] for b in batches], marker="o", label=model)
    axes.set(xscale="log", xlabel="batch size", ylabel="generated tokens/s (end to end)",
             title=f"Batch scaling: {run_label(document)}")  # fmt: skip
    axes.set_xticks(sorted({b for points in curves.values() for b in points}))
    axes.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.legend()
    axes.grid(alpha=0.3)
    return save(figure, path)


def roofline_chart(document: dict, path: Path) -> Path | None:
    measured = values_by_model(document, "decode_step_seconds", **QUICK)
    bound = values_by_model(document, "decode_step_bound_seconds", **QUICK)
    models = [m for m in measured if m in bound]
    if not models:
        return None
    figure, axes = plt.subplots(figsize=(8, 4.5))
    positions = range(len(models))
    axes.bar([p - 0.2 for p in positions], [measured[m] * 1e3 for m in models], 0.4,
             label="measured decode step")  # fmt: skip
    axes.bar([p + 0.2 for p in positions], [bound[m] * 1e3 for m in models], 0.4,
             label="roofline bound")  # fmt: skip
    for position, model in zip(positions, models, strict=True):
        efficiency = bound[model] / measured[model]
        axes.annotate(f"{efficiency:.2f}", (position - 0.2, measured[model] * 1e3),
                      ha="center", va="bottom")  # fmt: skip
    axes.set_xticks(list(positions), models)
    title = f"Decode against the roofline (labels: efficiency): {run_label(document)}"
    axes.set(ylabel="ms per token (prompt 128, batch 1)", title=title)
    axes.legend()
    axes.grid(alpha=0.3, axis="y")
    return save(figure, path)


def comparison_chart(base: dict, new: dict, path: Path) -> Path | None:
    from lmgauge.judge.compare import compare
    from lmgauge.judge.gate import DEFAULT_RULES
    from lmgauge.judge.gate_rules import load_gate_rules

    rows = compare(base, new, load_gate_rules(DEFAULT_RULES)).rows
    rows = rows[(rows["unit"] == "s") & rows["ci_low"].notna()]
    if rows.empty:
        return None
    labels = [f"{r.model} {r.metric} {r.params}".strip() for r in rows.itertuples()]
    figure, axes = plt.subplots(figsize=(12, 0.35 * len(rows) + 2))
    colours = [VERDICT_COLOURS.get(v, "tab:orange") for v in rows["verdict"]]
    axes.barh(labels, rows["ratio"] - 1, left=1, color=colours)
    positions = range(len(labels))
    axes.hlines(positions, rows["ci_low"], rows["ci_high"], color="black", linewidth=1.2)
    axes.plot(rows["ci_low"], positions, "k|", rows["ci_high"], positions, "k|", markersize=8)
    axes.plot(rows["raw_ratio"], positions, "kx", markersize=6, label="raw ratio")
    axes.axvline(1, color="black", linewidth=0.8)
    axes.set_xlabel(
        "new / base. Bar: the ratio judged (normalised by the speed probe when the\n"
        "machine's speed moved; x: the raw ratio). Line: its 95 % interval from the\n"
        "figure's run-to-run spread on this runner (the run is the unit).\n"
        "Red worse, green better, grey same, orange too noisy.",
        fontsize=9,
    )
    figure.suptitle(f"Latency: {run_label(base)}  ->  {run_label(new)}")
    axes.invert_yaxis()
    axes.grid(alpha=0.3, axis="x")
    return save(figure, path)


def run_label(document: dict) -> str:
    run = document["run"]
    return f"{run.get('name') or 'run'} ({document.get('created_utc', '')[:16]})"


def save(figure, path: Path) -> Path:
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def draw(paths: list[Path], out: str | None = None) -> list[Path]:
    """Charts of the last report (and a comparison when two are given); the PNGs written."""
    documents = [read_report(path) for path in paths]
    last = paths[-1]
    folder = Path(out) if out else last.parent
    stem = last.stem
    from lmgauge.render.configs_chart import configs_chart
    from lmgauge.render.cost_charts import cache_cost_chart, scaling_chart
    from lmgauge.render.serving_chart import serving_chart

    charts = [
        configs_chart(documents[-1], folder / f"{stem}.configs.png"),
        serving_chart(documents[-1], folder / f"{stem}.serving.png"),
        scaling_chart(documents[-1], folder / f"{stem}.scaling.png"),
        cache_cost_chart(documents[-1], folder / f"{stem}.cache_cost.png"),
        batch_chart(documents[-1], folder / f"{stem}.batch.png"),
        roofline_chart(documents[-1], folder / f"{stem}.roofline.png"),
    ]
    if len(documents) == 2:
        charts.append(
            comparison_chart(*documents, folder / f"{paths[0].stem}_vs_{stem}.compare.png")
        )
    return [chart for chart in charts if chart is not None]
