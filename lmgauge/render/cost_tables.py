"""What generation and training cost, as tables of one run: the KV cache's worth (step-time
exponents, measured and predicted, and the tenfold position), each training lever against its
baseline, and how latency, memory and training time scale with parameters across models.

A model without a KV cache whose spec names a twin (scratch-gpt2 -> gpt2) is also set against
the twin's cached step: the two compute the same function, so the ratio is the cache's worth
for the course's own `generate`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmgauge.record.fits import fitted_exponent, power_law, tenfold_length
from lmgauge.record.report import values_by_model

CACHE_METRIC = "position_step_seconds"
BOUND_METRIC = "position_step_bound_seconds"
QUICK_DECODE = {"batch": 1, "prompt_tokens": 128, "new_tokens": 32}
SCALING_FIGURES = {
    "decode step (s)": ("decode_step_seconds", QUICK_DECODE, "decode_step_bound_seconds",
                        QUICK_DECODE),
    "resident weights (bytes)": ("resident_weights_bytes", {}, "weight_bytes", {}),
    "training step (s)": ("train_step_seconds", {"lever": "baseline", "batch": 4, "length": 64},
                          "train_step_bound_seconds", {"batch": 4, "length": 64}),
}  # fmt: skip
"""Per figure: (measured metric, its params, the metric that predicts it from size alone,
its params)."""
FIT_MINIMUM = 3
"""Fewest models a power law across models is fitted to (two points fit any line exactly)."""


def step_curves(document: dict, metric: str = CACHE_METRIC) -> dict[tuple[str, str], dict]:
    """{(model, cache mode): {length: seconds}} of the longest sweep each model ran."""
    longest: dict[tuple[str, str], int] = {}
    curves: dict[tuple[str, str, int], dict[int, float]] = {}
    for result in document["results"]:
        if result["metric"] != metric:
            continue
        params = result["params"]
        key = (result["model"], params["cache"])
        reach = params.get("longest", 0)
        longest[key] = max(longest.get(key, 0), reach)
        curves.setdefault((*key, reach), {})[params["length"]] = result["value"]
    return {key: curves[(*key, reach)] for key, reach in longest.items()}


def twin_of(document: dict, model: str) -> str | None:
    """The model whose weights `model` was given (the report's `twin`), if any."""
    return document["models"].get(model, {}).get("twin")


def cache_frame(document: dict) -> pd.DataFrame:
    """One row per (model, cache mode): exponents measured and predicted, the ratio to the
    cached step at the longest length, and the tenfold position (against the model's own
    cached step, or its twin's)."""
    curves, bounds = step_curves(document), step_curves(document, BOUND_METRIC)
    rows = []
    for (model, mode), curve in curves.items():
        longest = max(curve)
        row = {"model": model, "cache": mode, "lengths": f"{min(curve)}-{longest}",
               "step at longest (ms)": 1e3 * curve[longest],
               "exponent": fitted_exponent(curve),
               "roofline exponent": fitted_exponent(bounds[(model, mode)])
               if (model, mode) in bounds else None}  # fmt: skip
        cached_model = model if (model, "yes") in curves else twin_of(document, model)
        cached = curves.get((cached_model, "yes"))
        if mode == "no" and cached:
            row["cached steps of"] = cached_model
            row["ratio at longest"] = (
                curve[longest] / cached[longest] if longest in cached else None
            )
            row["tenfold position"] = tenfold_length(curve, cached)
        rows.append(row)
    return pd.DataFrame(rows)


def lever_frame(document: dict) -> pd.DataFrame:
    """One row per (model, training lever or fine-tuning method)."""
    figures = {
        "train_step_seconds": "step (s)",
        "train_tokens_per_second": "tokens/s",
        "train_lever_time_ratio": "time / baseline",
        "train_activation_bytes": "activations (MB)",
        "train_lever_activation_saved_bytes": "activations saved (MB)",
        "train_peak_growth_bytes": "peak growth (MB)",
        "train_loss_difference": "loss difference (nats)",
        "train_roofline_efficiency": "roofline efficiency",
    }
    rows: dict[tuple[str, str], dict] = {}
    for result in document["results"]:
        column = figures.get(result["metric"])
        if column is None:
            continue
        params = result["params"]
        setup = params.get("lever") or (f"fine-tune {params['method']}"
                                        if "method" in params else "baseline")  # fmt: skip
        value = result["value"] / 1e6 if column.endswith("(MB)") else result["value"]
        rows.setdefault((result["model"], setup), {"model": result["model"], "setup": setup})
        rows[(result["model"], setup)][column] = value
    frame = pd.DataFrame(rows.values())
    return frame[[c for c in ["model", "setup", *figures.values()] if c in frame]]


def keeps_cache(document: dict, model: str) -> bool:
    """Whether the model kept a KV cache: the report's `kv_cache`; in reports older than that
    field, no when its cache-cost sweep ran without a cached mode, else yes."""
    said = document["models"].get(model, {}).get("kv_cache")
    if said is not None:
        return said
    modes = {mode for (name, mode) in step_curves(document) if name == model}
    return modes != {"no"}


def scaling_points(document: dict) -> dict[str, pd.DataFrame]:
    """Per scaling figure: a frame indexed by model with parameters, measured and predicted.
    Decode steps are compared among models that keep a KV cache only: a cache-less step is a
    forward over the prefix, another law (see the cache table)."""
    parameters = values_by_model(document, "parameters_total")
    points = {}
    for figure, (metric, params, predictor, predictor_params) in SCALING_FIGURES.items():
        measured = values_by_model(document, metric, **params)
        predicted = values_by_model(document, predictor, **predictor_params)
        models = [model for model in measured if model in parameters]
        if metric == "decode_step_seconds":
            models = [model for model in models if keeps_cache(document, model)]
        points[figure] = pd.DataFrame(
            {"parameters": [parameters[m] for m in models],
             "measured": [measured[m] for m in models],
             "predicted": [predicted.get(m) for m in models]},
            index=models,
        ).sort_values("parameters")  # fmt: skip
    return points


def chartable_scaling(document: dict) -> dict[str, pd.DataFrame]:
    """The scaling figures that a chart can show: those measured on two sizes at least."""
    return {
        figure: frame for figure, frame in scaling_points(document).items()
        if frame["parameters"].nunique() >= 2
    }  # fmt: skip


def scaling_frame(document: dict) -> pd.DataFrame:
    """Per scaling figure with at least FIT_MINIMUM models: the fitted exponent of the measured
    figure against parameters, and of the roofline's prediction."""
    rows = []
    for figure, frame in scaling_points(document).items():
        if len(frame) < FIT_MINIMUM:
            continue
        predicted = frame.dropna(subset=["predicted"])
        rows.append({
            "figure": figure, "models": ", ".join(frame.index),
            "exponent": power_law(frame["parameters"], frame["measured"])[0],
            "roofline exponent": power_law(predicted["parameters"], predicted["predicted"])[0]
            if len(predicted) >= FIT_MINIMUM else None,
        })  # fmt: skip
    return pd.DataFrame(rows)


def has_costs(document: dict) -> bool:
    wanted = {CACHE_METRIC, "train_step_seconds"}
    return any(result["metric"] in wanted for result in document["results"])


MISSING_LEGEND = " –: no value (not measured, or does not apply)."
MISSING_TENFOLD_LEGEND = (" –: no value (not measured, does not apply, or, for the tenfold "
                          "position, not reached within the lengths measured).")


def costs_markdown(document: dict) -> str:
    """The three tables as Markdown (sections without figures left out)."""
    sections = [
        ("Step time against position, with and without a KV cache", cache_frame(document),
         "exponent: k of step seconds = c n^k over the four longest lengths; roofline exponent: "
         "the same fit to the FLOPs-and-bytes bound; cached steps of: the model whose cached "
         "steps a step without a cache is set against (its own, or its cached twin's); tenfold "
         "position: where a step without a cache costs ten cached steps."
         + MISSING_TENFOLD_LEGEND),
        ("Training step and its levers", lever_frame(document),
         "Levers against the baseline of the same run (median of the runs before and after); "
         "activations: bytes autograd saved for the backward pass." + MISSING_LEGEND),
        ("Scaling with parameters", scaling_frame(document),
         "exponent: k of figure = c N^k across models; roofline exponent: the same fit to what "
         "size alone predicts." + MISSING_LEGEND),
    ]  # fmt: skip
    parts = ["# What generation and training cost", ""]
    for title, frame, legend in sections:
        if frame.empty:
            continue
        shown = frame.astype(object).where(frame.notna(), None)
        table = shown.to_markdown(index=False, floatfmt=".4g", missingval="–")
        parts += [f"## {title}", "", table, "", legend, ""]
    return "\n".join(parts)


def costs_path(report_path: Path) -> Path:
    return report_path.with_suffix(".costs.md")
