"""Accuracy thresholds kept in one versioned TOML file (benches/thresholds.toml).

Each entry names a model, a metric and the params of the figure it guards, a `min` (the figure
must reach it) and the reason for the number. A figure with no entry is recorded unjudged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tomllib

SUPPORTED_VERSION = 1


@dataclass(frozen=True)
class Threshold:
    model: str
    metric: str
    params: dict
    min: float
    reason: str

    def passes(self, value: float) -> bool:
        return value >= self.min


def load_thresholds(path: Path) -> list[Threshold]:
    """Every threshold in `path`; ValueError with one sentence when the file is malformed."""
    try:
        document = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read thresholds {path}: {error}") from None
    if document.get("version") != SUPPORTED_VERSION:
        raise ValueError(
            f"{path} has version {document.get('version')!r}; "
            f"lmgauge reads version {SUPPORTED_VERSION}"
        )
    thresholds = []
    for index, entry in enumerate(document.get("threshold", [])):
        missing = {"model", "metric", "min", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{path}: threshold {index} lacks {', '.join(sorted(missing))}")
        thresholds.append(
            Threshold(
                entry["model"],
                entry["metric"],
                dict(entry.get("params", {})),
                float(entry["min"]),
                entry["reason"],
            )
        )
    return thresholds


def find(thresholds: list[Threshold], model: str, metric: str, **params) -> Threshold | None:
    """The threshold guarding this figure, or None."""
    for threshold in thresholds:
        if (threshold.model, threshold.metric, threshold.params) == (model, metric, params):
            return threshold
    return None
