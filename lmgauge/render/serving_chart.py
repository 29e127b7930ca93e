"""Latency against throughput of the served subjects (`<report>.serving.png`): one curve per
subject and loop (closed: concurrency levels; open: request rates) through its load levels,
output tokens/s across, time to first token (left panel) and inter-token latency (right panel)
up on a log scale, p50 solid and p99 dashed, each point labelled with its load, the SLO drawn
as a line and the saturation point ringed. Where a curve turns upward while the throughput
stops growing, the server is saturated."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from lmgauge.record.report import subject_of  # noqa: E402
from lmgauge.render.plots import run_label, save  # noqa: E402
from lmgauge.render.serving_table import level_label, serving_frame  # noqa: E402

PANELS = (("TTFT", "ttft_s", "time to first token (ms)"),
          ("ITL", "itl_s", "inter-token latency (ms)"))  # fmt: skip
THROUGHPUT = "output tokens/s"


def serving_chart(document: dict, path: Path) -> Path | None:
    """The chart, or None when no served subject has throughput and latency figures."""
    frame = serving_frame(document)
    if frame.empty or THROUGHPUT not in frame.columns:
        return None
    slo = document["run"].get("options", {}).get("serving", {}).get("slo") or {}
    curves = frame.index.droplevel("load").unique()
    figure, panels = plt.subplots(1, 2, figsize=(13, 5.5 + 0.25 * len(curves)),
                                  layout="constrained")  # fmt: skip
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    saturated = saturation_points(document)
    for axes, (name, slo_key, label) in zip(panels, PANELS, strict=True):
        for index, (subject, loop) in enumerate(curves):
            rows = frame.loc[(subject, loop)].dropna(subset=[THROUGHPUT])
            colour = colours[index % len(colours)]
            for quantile, style in (("p50", "-o"), ("p99", "--^")):
                column = f"{name} {quantile} (ms)"
                if column not in rows.columns:
                    continue
                axes.plot(rows[THROUGHPUT], rows[column], style, color=colour, alpha=0.85,
                          label=f"{subject}, {loop} loop, {quantile}")  # fmt: skip
            median = rows.get(f"{name} p50 (ms)")
            if median is None:
                continue
            for load, x, y in zip(rows.index, rows[THROUGHPUT], median, strict=True):
                axes.annotate(level_label(loop, load), (x, y), textcoords="offset points",
                              xytext=(5, -11), fontsize=8, color=colour)  # fmt: skip
                if saturated.get((subject, loop)) == load:
                    axes.scatter([x], [y], s=220, facecolors="none", edgecolors="black",
                                 linewidths=1.2, zorder=4)  # fmt: skip
        if slo.get(slo_key):
            axes.axhline(slo[slo_key] * 1e3, color="black", linestyle=":")
            axes.annotate(f"SLO {slo[slo_key] * 1e3:g} ms", (1.0, slo[slo_key] * 1e3),
                          xycoords=("axes fraction", "data"), xytext=(-4, 3), ha="right",
                          textcoords="offset points", fontsize=8, color="black")  # fmt: skip
        axes.set(xlabel="output tokens/s (all users together)", ylabel=label, yscale="log",
                 xlim=(0, frame[THROUGHPUT].max() * 1.15))  # fmt: skip
        low, high = axes.get_ylim()
        axes.set_ylim(low, max(high, slo.get(slo_key, 0) * 1e3 * 1.3))
        axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.grid(alpha=0.3, which="both")
    handles, labels = panels[0].get_legend_handles_labels()
    if saturated:
        handles.append(Line2D([], [], marker="o", markersize=12, markerfacecolor="none",
                              markeredgecolor="black", linestyle="none"))  # fmt: skip
        labels.append("saturation point: the last load before the server saturated")
    figure.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8)
    figure.suptitle(f"Latency under load: {run_label(document)}")
    return save(figure, path)


SATURATION = {"served_saturation_concurrency": "closed", "served_saturation_request_rate": "open"}


def saturation_points(document: dict) -> dict[tuple, float]:
    """{(subject, loop): load} of the saturation figures the run recorded (bench_serve's
    test_saturation: the last load level before the server saturated)."""
    return {(subject_of(result), SATURATION[result["metric"]]): result["value"]
            for result in document["results"] if result["metric"] in SATURATION}  # fmt: skip
