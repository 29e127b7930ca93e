"""What the accuracy and quality benches share: the thresholds file, recording a figure with its
verdict against it, the real-weights rule, and frozen features extracted once per model.

Accuracy and quality mean nothing for synthetic weights, so those benches skip such models.
"""

from __future__ import annotations

import pytest

from lmgauge.pytest_plugin.state import bench_and_model
from lmgauge.quality.features import extract_splits
from lmgauge.quality.thresholds import find, load_thresholds, verdict
from lmgauge.sources.models import SYNTHETIC

THRESHOLDS_FILE = "benches/thresholds.toml"


@pytest.fixture(scope="session")
def thresholds(request: pytest.FixtureRequest) -> list:
    """Every entry of benches/thresholds.toml (lmgauge.quality.thresholds.Threshold)."""
    try:
        return load_thresholds(request.config.rootpath / THRESHOLDS_FILE)
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def record_judged(request: pytest.FixtureRequest, record, thresholds):
    """`record_judged(metric, value, **params)`: record a quality figure with its verdict
    against benches/thresholds.toml (the result's `threshold`: pass, fail, or unjudged when no
    threshold guards this figure of this model). Returns the failure sentence, or None: an
    unjudged figure is recorded, shown as unjudged, and does not fail."""
    model = bench_and_model(request.node)[1]

    def add(metric: str, value: float, **params) -> str | None:
        threshold = find(thresholds, model, metric, **params)
        judged = verdict(threshold, value)
        record(metric, value, threshold=judged, **params)
        return threshold.explain(value) if judged["verdict"] == "fail" else None

    return add


@pytest.fixture(scope="session")
def _feature_cache() -> dict:
    return {}


@pytest.fixture
def frozen_features(loaded_model, polarity, _feature_cache):
    """{split: Features} of the polarity train, validation and test splits under this model,
    extracted once per session; a model without real weights or a tokenizer skips first."""
    require_real_weights(loaded_model)
    if loaded_model.name not in _feature_cache:
        splits = ("train", "validation", "test")
        _feature_cache[loaded_model.name] = extract_splits(loaded_model, polarity, splits)
    return _feature_cache[loaded_model.name]


def require_real_weights(loaded_model) -> None:
    """Skip, with the reason, a model whose weights are synthetic or that has no tokenizer."""
    if loaded_model.spec.weights == SYNTHETIC:
        pytest.skip(
            f"{loaded_model.name} has synthetic weights: "
            "its accuracy and output quality would mean nothing"
        )
    if loaded_model.tokenizer is None:
        pytest.skip(f"{loaded_model.name} has no tokenizer")
