"""The speed-against-quality chart of a run's configurations, the Pareto front marked: one
panel per model, decode tokens/s across, top-1 agreement with the float32 eager reference up."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lmgauge.render.configs_table import QUALITY_COLUMN, SPEED_COLUMN, charted_configs  # noqa: E402
from lmgauge.render.plots import run_label, save  # noqa: E402


def configs_chart(document: dict, path: Path) -> Path | None:
    """The chart, or None when no subject has both a speed and a quality figure."""
    frame = charted_configs(document)
    if frame.empty:
        return None
    frame["model"] = [document["models"].get(s, {}).get("name", s) for s in frame.index]
    models = list(dict.fromkeys(frame["model"]))
    figure, panels = plt.subplots(1, len(models), figsize=(6.5 * len(models), 5), squeeze=False)
    floor = agreement_floor(document)
    for axes, model in zip(panels[0], models, strict=True):
        draw_model(axes, frame[frame["model"] == model], model)
        if floor is not None:
            axes.axhline(floor, color="tab:red", linestyle="--", alpha=0.5,
                         label=f"agreement threshold {floor:g}")  # fmt: skip
            axes.legend(loc="lower right", fontsize=8)
    figure.suptitle(f"Which configuration to ship: {run_label(document)}")
    return save(figure, path)


def label_offsets(speeds: list[float], qualities: list[float]) -> list[int]:
    """Vertical offsets (points) of the labels, stacked where points lie close together, so
    that labels of near-identical configurations do not print over each other."""
    width = max(speeds) or 1.0
    offsets = []
    for index, (speed, quality) in enumerate(zip(speeds, qualities, strict=True)):
        near = sum(
            abs(speed - speeds[j]) < 0.08 * width and abs(quality - qualities[j]) < 0.03
            for j in range(index)
        )
        offsets.append(4 + 11 * near)
    return offsets


def draw_model(axes, rows, model: str) -> None:
    rows = rows.sort_values([QUALITY_COLUMN, SPEED_COLUMN])
    offsets = label_offsets(list(rows[SPEED_COLUMN]), list(rows[QUALITY_COLUMN]))
    for (subject, row), offset in zip(rows.iterrows(), offsets, strict=True):
        failed = row["quality"] == "fails"
        axes.scatter(
            row[SPEED_COLUMN], row[QUALITY_COLUMN], s=70, zorder=3,
            color="tab:red" if failed else "tab:blue",
            marker="X" if failed else ("*" if row["pareto"] else "o"),
        )  # fmt: skip
        label = subject.split("@", 1)[1] if "@" in subject else "default"
        axes.annotate(label, (row[SPEED_COLUMN], row[QUALITY_COLUMN]),
                      textcoords="offset points", xytext=(6, offset), fontsize=9)  # fmt: skip
    front = rows[rows["pareto"]].sort_values(SPEED_COLUMN)
    axes.plot(front[SPEED_COLUMN], front[QUALITY_COLUMN], color="tab:green", alpha=0.6,
              label="Pareto front")  # fmt: skip
    low = max(0.0, round(rows[QUALITY_COLUMN].min() - 0.15, 1))
    top = 1.03 + 0.04 * (max(offsets) - 4) / 11
    axes.set(xlabel="decode tokens/s (batch 1, prompt 128, 32 new)",
             ylabel="top-1 agreement with float32 eager", title=model,
             ylim=(low, top), xlim=(0, rows[SPEED_COLUMN].max() * 1.2))  # fmt: skip
    axes.set_yticks([tick for tick in axes.get_yticks() if low <= tick <= 1.0])
    axes.scatter([], [], color="tab:red", marker="X", label="fails a quality threshold")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)


def agreement_floor(document: dict) -> float | None:
    """The top-1 agreement threshold the run judged with (its `min`), if any."""
    for result in document["results"]:
        if result["metric"] == "top1_agreement" and "min" in (result.get("threshold") or {}):
            return result["threshold"]["min"]
    return None
