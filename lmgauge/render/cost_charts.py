"""Charts of what generation and training cost (tables in lmgauge.render.cost_tables): step
time against position with and without a KV cache, and the course's scaling comparison, each
on log-log axes with the fitted power law and what the roofline predicts."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lmgauge.record.fits import FIT_POINTS, power_law  # noqa: E402
from lmgauge.render.cost_tables import (  # noqa: E402
    BOUND_METRIC,
    FIT_MINIMUM,
    cache_frame,
    chartable_scaling,
    step_curves,
)
from lmgauge.render.plots import run_label, save  # noqa: E402

MODES = {"yes": ("-", "with KV cache"), "no": ("--", "no cache (whole prefix)")}


def cache_cost_chart(document: dict, path: Path) -> Path | None:
    """Step seconds against length per (model, mode): points measured, a line of the power law
    fitted over the longest lengths, a dotted line of the roofline bound."""
    curves, bounds = step_curves(document), step_curves(document, BOUND_METRIC)
    if not curves:
        return None
    figure, axes = plt.subplots(figsize=(13, 6))
    models = list(dict.fromkeys(model for model, _ in curves))
    colours = {model: plt.cm.tab10.colors[index % 10] for index, model in enumerate(models)}
    for (model, mode), curve in sorted(curves.items()):
        lengths = sorted(curve)
        colour, (style, described) = colours[model], MODES[mode]
        times = [1e3 * curve[n] for n in lengths]
        axes.plot(lengths, times, "o", color=colour, markersize=5)
        fitted = lengths[-FIT_POINTS:]
        exponent, coefficient = power_law(fitted, [curve[n] for n in fitted])
        line = np.geomspace(fitted[0], fitted[-1], 20)
        axes.plot(line, 1e3 * coefficient * line**exponent, style, color=colour,
                  label=f"{model}, {described}: n^{exponent:.2f}")  # fmt: skip
        if (model, mode) in bounds:
            bound = bounds[(model, mode)]
            axes.plot(lengths, [1e3 * bound[n] for n in lengths], ":", color=colour, alpha=0.6)
    for row in cache_frame(document).to_dict("records"):
        tenfold = row.get("tenfold position")
        if tenfold is not None and tenfold == tenfold:
            axes.axvline(tenfold, color=colours[row["model"]], alpha=0.5, linewidth=1,
                         label=f"{row['model']} without cache = 10 x {row['cached steps of']} "
                         f"with cache at n = {tenfold:.0f}")  # fmt: skip
    axes.set(xscale="log", yscale="log", xlabel="tokens the step attends over (n)",
             ylabel="ms per generated token",
             title=f"The cost of no KV cache: {run_label(document)}")  # fmt: skip
    axes.plot([], [], ":", color="gray", label="roofline bound (FLOPs and bytes)")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    axes.grid(alpha=0.3, which="both")
    measured = sorted({n for curve in curves.values() for n in curve})
    axes.set_xticks(measured)
    plain_ticks(axes, minor_axes="y")
    return save(figure, path)


PANELS = {
    "decode step (s)": ("ms per token (prompt 128, batch 1)", 1e3),
    "resident weights (bytes)": ("resident MB after loading", 1e-6),
    "training step (s)": ("s per step (batch 4 x 64 tokens)", 1.0),
}


def scaling_chart(document: dict, path: Path) -> Path | None:
    """Parameters against decode step, resident memory and training step across models, with
    the power law fitted when FIT_MINIMUM models have the figure, next to the roofline's; a
    panel needs two sizes at least, the chart one panel (else None)."""
    points = chartable_scaling(document)
    if not points:
        return None
    figure, panels = plt.subplots(1, len(points), figsize=(5.5 * len(points), 4.8), squeeze=False)
    for axes, (name, frame) in zip(panels[0], points.items(), strict=True):
        label, scale = PANELS[name]
        x = frame["parameters"] / 1e6
        axes.plot(x, frame["measured"] * scale, "o", color="tab:blue", label="measured")
        for model, row in frame.iterrows():
            axes.annotate(model, (row["parameters"] / 1e6, row["measured"] * scale),
                          textcoords="offset points", xytext=(4, 4), fontsize=8)  # fmt: skip
        draw_law(axes, frame, "measured", scale, "tab:blue", "-", "measured")
        predicted = frame.dropna(subset=["predicted"])
        axes.plot(predicted["parameters"] / 1e6, predicted["predicted"] * scale, "s",
                  color="tab:orange", alpha=0.7, label="roofline prediction")  # fmt: skip
        draw_law(axes, predicted, "predicted", scale, "tab:orange", "--", "roofline")
        axes.set(xscale="log", yscale="log", xlabel="parameters (millions)", ylabel=label,
                 title=name.split(" (")[0])  # fmt: skip
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3, which="both")
        plain_ticks(axes)
    figure.suptitle(f"Scaling with size: {run_label(document)}")
    return save(figure, path)


def plain_ticks(axes, minor_axes: str = "xy") -> None:
    """Log axes labelled 10, 20, 50, 100 rather than 10^1, 2 x 10^1. Minor ticks are labelled
    on the axes named in `minor_axes`: every one on an axis spanning under 3x (it may hold no
    power of ten), those at 2 and 5 times a power of ten under 100x, none wider (their labels
    would run into each other)."""
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    some = matplotlib.ticker.FuncFormatter(
        lambda value, _: f"{value:g}" if leading_digit(value) in (2, 5) else "")
    for name, axis, (low, high) in (("x", axes.xaxis, axes.get_xlim()),
                                    ("y", axes.yaxis, axes.get_ylim())):  # fmt: skip
        axis.set_major_formatter(plain)
        span = high / low if low > 0 and name in minor_axes else math.inf
        chosen = plain if span < 3 else some if span < 100 else matplotlib.ticker.NullFormatter()
        axis.set_minor_formatter(chosen)


def leading_digit(value: float) -> int:
    """The first significant digit of a positive value (0 for anything else)."""
    if not value > 0:
        return 0
    return int(round(value / 10 ** np.floor(np.log10(value)), 6))


def draw_law(axes, frame, column: str, scale: float, colour: str, style: str, what: str):
    if len(frame) < FIT_MINIMUM:
        return
    exponent, coefficient = power_law(frame["parameters"], frame[column])
    line = np.geomspace(frame["parameters"].min(), frame["parameters"].max(), 20)
    axes.plot(line / 1e6, scale * coefficient * line**exponent, style, color=colour,
              label=f"{what}: N^{exponent:.2f}")  # fmt: skip
