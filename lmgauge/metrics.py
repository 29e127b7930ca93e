"""The catalogue of metrics: every figure lmgauge records has its unit, direction and meaning here.

direction: "lower" (smaller is better), "higher" (larger is better) or "exact" (any change
is a change of the model itself, e.g. a parameter count). The run report carries the entries
of the metrics it used, so a report explains its own figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DIRECTIONS = ("lower", "higher", "exact")


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    direction: str
    meaning: str

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if key != "name"}


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "parameters_total",
            "count",
            "exact",
            "unique parameter elements of the loaded model; tied weights counted once",
        ),
        Metric(
            "parameters_trainable", "count", "exact", "parameter elements with requires_grad set"
        ),
        Metric(
            "parameters_non_embedding",
            "count",
            "exact",
            "parameters_total minus token and position embedding tables and an untied output "
            "embedding (Kaplan et al.'s N)",
        ),
        Metric(
            "parameters_by_module",
            "count",
            "exact",
            "parameter elements under one top-level child module of the base model (param "
            "`module`); `(head)` is what lies outside the base model",
        ),
        Metric(
            "parameters_by_layer_type",
            "count",
            "exact",
            "parameter elements owned by modules of one class (param `layer_type`), e.g. "
            "Linear, Embedding, LayerNorm",
        ),
        Metric(
            "weight_bytes",
            "bytes",
            "lower",
            "bytes of the loaded parameters and buffers held in one dtype (param `dtype`)",
        ),
        Metric(
            "disk_bytes",
            "bytes",
            "lower",
            "size on disk of the weight files the model was loaded from",
        ),
        Metric("model_vocab_size", "count", "exact", "rows of the model's input embedding table"),
        Metric(
            "tokenizer_vocab_size",
            "count",
            "exact",
            "tokens the tokenizer knows, added tokens included (len(tokenizer))",
        ),
    )
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise KeyError(f"metric '{name}' is not in lmgauge.metrics.METRICS; add it there first")
    return METRICS[name]
