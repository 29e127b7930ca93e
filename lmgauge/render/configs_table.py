"""Which configuration to ship: every subject of a run (a model in one configuration) side by
side with its speed and its quality, as a pandas table, Markdown beside the report
(`<report>.configs.md`), and a speed-against-quality chart with the Pareto front marked.

Speed is decode tokens/s at the quick generation shape (batch 1, prompt 128, 32 new tokens);
quality is top-1 agreement with the float32 eager reference of the same model. A subject is on
the Pareto front when it fails none of its quality thresholds and no other such subject of the
same model is at least as fast and at least as faithful, and better in one of the two: a
configuration that broke the model is never a candidate, however fast. Differences smaller than
the measurements can tell (SPEED_TIE, QUALITY_TIE) are ties, so both stay on the front.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmgauge.record.report import subject_of, values_by_model

QUICK_GENERATION = {"prompt_tokens": 128, "new_tokens": 32, "batch": 1}
COLUMNS = {
    # column: (metric, params that must match, scale, format)
    "load (s)": ("warm_load_seconds", {}, 1, "{:.2f}"),
    "resident (MB)": ("resident_weights_bytes", {}, 1e-6, "{:.0f}"),
    "compile (s)": ("compile_seconds", {}, 1, "{:.0f}"),
    "TTFT (ms)": ("ttft_seconds", QUICK_GENERATION, 1e3, "{:.0f}"),
    "decode step (ms)": ("decode_step_seconds", QUICK_GENERATION, 1e3, "{:.1f}"),
    "tokens/s": ("decode_tokens_per_second", QUICK_GENERATION, 1, "{:.1f}"),
    "decode efficiency": ("decode_roofline_efficiency", QUICK_GENERATION, 1, "{:.2f}"),
    "perplexity": ("perplexity", {"split": "test", "sentences": 100}, 1, "{:.1f}"),
    "known answers": ("known_answer_accuracy", {}, 1, "{:.3f}"),
    "top-1 agreement": ("top1_agreement", {}, 1, "{:.3f}"),
    "NLL increase (nats)": ("nll_increase_nats", {}, 1, "{:+.3f}"),
    "min cosine": ("embedding_min_cosine", {}, 1, "{:.4f}"),
}
SPEED = ("decode_tokens_per_second", QUICK_GENERATION)
QUALITY = ("top1_agreement", {})
SPEED_TIE = 0.05
"""Speeds within this fraction count as equal in reports that do not record their round
target (before run.options.round_width): their rounds stopped at about ±5 %."""
QUALITY_TIE = 0.01
"""Agreements within 0.01 count as equal (the binomial standard error over SmolLM2's 648
positions is 0.009, and positions within a sentence are correlated)."""


def configs_frame(document: dict) -> pd.DataFrame:
    """One row per in-process subject (index: its name; served subjects are in
    lmgauge.render.serving_table), one column per COLUMNS figure found (numbers,
    NaN where absent), plus `quality` ("fails" when any of its judged figures failed its
    threshold, else "passes" or "unjudged") and `pareto` (True on its model's front)."""
    rows = {name: {} for name, entry in document["models"].items() if not entry.get("served")}
    for column, (metric, params, scale, _) in COLUMNS.items():
        for subject, value in values_by_model(document, metric, **params).items():
            if not document["models"].get(subject, {}).get("served"):
                rows.setdefault(subject, {})[column] = value * scale
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))
    frame = frame.dropna(axis=1, how="all")
    frame["quality"] = [quality_verdict(document, subject) for subject in frame.index]
    candidates = [s for s in frame.index if frame.loc[s, "quality"] != "fails"]
    front = pareto_front(document, candidates)
    frame["pareto"] = [s in front for s in frame.index]
    return frame


def quality_verdict(document: dict, subject: str) -> str:
    verdicts = {
        result["threshold"]["verdict"]
        for result in document["results"]
        if result.get("threshold") and subject_of(result) == subject
    }
    if "fail" in verdicts:
        return "fails"
    return "passes" if "pass" in verdicts else "unjudged"


def pareto_front(document: dict, subjects: list[str]) -> list[str]:
    """The subjects that have both a speed and a quality figure and that no other of
    `subjects` of the same model dominates."""
    speed = values_by_model(document, SPEED[0], **SPEED[1])
    quality = values_by_model(document, QUALITY[0], **QUALITY[1])
    measured = [s for s in subjects if s in speed and s in quality]
    tie = speed_tie(document)

    def beats(other: str, subject: str) -> bool:
        faster = speed[other] > speed[subject] * (1 + tie)
        as_fast = speed[other] >= speed[subject] * (1 - tie)
        better = quality[other] > quality[subject] + QUALITY_TIE
        as_good = quality[other] >= quality[subject] - QUALITY_TIE
        return as_fast and as_good and (faster or better)

    def dominated(subject: str) -> bool:
        model = document["models"].get(subject, {}).get("name", subject)
        return any(
            document["models"].get(other, {}).get("name", other) == model and beats(other, subject)
            for other in measured
        )

    return [subject for subject in measured if not dominated(subject)]


def speed_tie(document: dict) -> float:
    """Speeds within this fraction count as equal: the run's round target (the half-width of
    the 95 % interval that its rounds aimed at, run.options.round_width; SPEED_TIE when the
    report does not say), since a smaller gap is not a measured difference."""
    recorded = document["run"].get("options", {}).get("round_width")
    return SPEED_TIE if recorded is None else recorded


def tie_source(document: dict) -> str:
    recorded = document["run"].get("options", {}).get("round_width")
    if recorded is None:
        return "the report does not record its round target"
    return "the run's round target"


def configs_shown(document: dict) -> pd.DataFrame:
    """The table with its numbers formatted as text, the Pareto front marked `yes`."""
    frame = configs_frame(document)
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column in COLUMNS:
            form = COLUMNS[column][3]
            shown[column] = [form.format(v) if pd.notna(v) else "" for v in frame[column]]
    shown["quality"] = frame["quality"]
    shown["Pareto"] = ["yes" if on else "" for on in frame["pareto"]]
    return shown


def configs_markdown(document: dict) -> str:
    """The table as Markdown, numbers formatted, the Pareto front and quality failures marked."""
    shown = configs_shown(document)
    lines = [
        "# Configurations side by side",
        "",
        "Speed at batch 1, prompt 128, 32 new tokens; quality against the float32 eager "
        "reference of the same model (benches/thresholds.toml). Pareto: among the "
        "configurations that pass their quality thresholds, none of the same model is both "
        "faster (tokens/s) and more faithful (top-1 agreement); speeds within "
        f"{100 * speed_tie(document):.3g} % ({tie_source(document)}) and agreements within "
        "0.01 are ties.",
        "",
        shown.to_markdown(disable_numparse=True),
    ]
    return "\n".join(lines) + "\n"


def configs_path(report_path: Path) -> Path:
    return report_path.with_suffix(".configs.md")


SPEED_COLUMN = "tokens/s"
QUALITY_COLUMN = "top-1 agreement"


def charted_configs(document: dict) -> pd.DataFrame:
    """The rows of configs_frame that the speed-against-quality chart draws: subjects with both
    a speed and a quality figure (empty when none has both)."""
    frame = configs_frame(document)
    if not {SPEED_COLUMN, QUALITY_COLUMN} <= set(frame.columns):
        return frame.iloc[0:0]
    return frame.dropna(subset=[SPEED_COLUMN, QUALITY_COLUMN])


def has_configs(document: dict) -> bool:
    """True when the run compared in-process configurations: --configs named one other than
    the default (served subjects have their own table, lmgauge.render.serving_table)."""
    return any(
        "@" in name and not entry.get("served") for name, entry in document["models"].items()
    )
