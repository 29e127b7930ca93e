"""Quality thresholds kept in one versioned TOML file (benches/thresholds.toml).

Each entry names a model, a metric and the params of the figure it guards, a `min` the figure
must reach and/or a `max` it must not exceed (perplexity), and the reason for the numbers. A
figure with no entry is recorded unjudged.

File versions: 1: `min` only; 2: `max` added; 3: `model = "*"` guards every model that has no
entry of its own (earlier versions still load).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib

SUPPORTED_VERSIONS = (1, 2, 3)
ANY_MODEL = "*"


@dataclass(frozen=True)
class Threshold:
    model: str
    metric: str
    params: dict
    min: float
    reason: str
    max: float = math.inf

    def passes(self, value: float) -> bool:
        return self.min <= value <= self.max

    def explain(self, value: float) -> str:
        """Why `value` fails (or passes), in one phrase, with the reason for the number."""
        bound = f"< min {self.min}" if value < self.min else f"> max {self.max}"
        if self.passes(value):
            bound = "within bounds"
        return f"{self.figure()}: {value:.4g} {bound} ({self.reason})"

    def figure(self) -> str:
        """The metric with the params it guards: "perplexity (split=test, sentences=100)"."""
        if not self.params:
            return self.metric
        return f"{self.metric} ({', '.join(f'{k}={v}' for k, v in self.params.items())})"

    def bounds(self) -> str:
        """The bounds in words: "at least 0.9", "at most 40", "between 0.5 and 2"."""
        if math.isinf(self.max):
            return f"at least {self.min:g}"
        if self.min == -math.inf:
            return f"at most {self.max:g}"
        return f"between {self.min:g} and {self.max:g}"


def load_thresholds(path: Path) -> list[Threshold]:
    """Every threshold in `path`; ValueError with one sentence when the file is malformed."""
    try:
        document = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read thresholds {path}: {error}") from None
    version = document.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(
            f"{path} has version {version!r}; lmgauge reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}"
        )
    return [
        parse_entry(path, index, entry) for index, entry in enumerate(document.get("threshold", []))
    ]


def parse_entry(path: Path, index: int, entry: dict) -> Threshold:
    missing = {"model", "metric", "reason"} - set(entry)
    if not {"min", "max"} & set(entry):
        missing.add("min or max")
    if missing:
        raise ValueError(f"{path}: threshold {index} lacks {', '.join(sorted(missing))}")
    return Threshold(
        model=entry["model"],
        metric=entry["metric"],
        params=dict(entry.get("params", {})),
        min=float(entry.get("min", -math.inf)),
        max=float(entry.get("max", math.inf)),
        reason=entry["reason"],
    )


def find(thresholds: list[Threshold], model: str, metric: str, **params) -> Threshold | None:
    """The threshold guarding this figure, or None: the model's own entry, else an entry for
    every model (`model = "*"`, thresholds relative to a reference)."""
    for name in (model, ANY_MODEL):
        for threshold in thresholds:
            if (threshold.model, threshold.metric, threshold.params) == (name, metric, params):
                return threshold
    return None


def verdict(threshold: Threshold | None, value: float) -> dict:
    """The verdict on `value` as a report records it: {"verdict": "unjudged"} without a
    threshold, else "pass" or "fail" with the threshold's finite bounds and its reason."""
    if threshold is None:
        return {"verdict": "unjudged"}
    bounds = {"min": threshold.min, "max": threshold.max}
    return {
        "verdict": "pass" if threshold.passes(value) else "fail",
        **{name: bound for name, bound in bounds.items() if math.isfinite(bound)},
        "reason": threshold.reason,
    }
