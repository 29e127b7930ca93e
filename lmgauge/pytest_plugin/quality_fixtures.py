"""What the accuracy and quality benches share: the thresholds file, the real-weights rule, and
a deliberately broken copy of a model.

Accuracy and quality mean nothing for synthetic weights, so those benches skip such models.
"""

from __future__ import annotations

import copy

import pytest

from lmgauge.quality.thresholds import load_thresholds
from lmgauge.sources.models import SYNTHETIC

THRESHOLDS_FILE = "benches/thresholds.toml"


@pytest.fixture(scope="session")
def thresholds(request: pytest.FixtureRequest) -> list:
    """Every entry of benches/thresholds.toml (lmgauge.quality.thresholds.Threshold)."""
    try:
        return load_thresholds(request.config.rootpath / THRESHOLDS_FILE)
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)


def require_real_weights(loaded_model) -> None:
    """Skip, with the reason, a model whose weights are synthetic or that has no tokenizer."""
    if loaded_model.spec.weights == SYNTHETIC:
        pytest.skip(
            f"{loaded_model.name} has synthetic weights: "
            "its accuracy and output quality would mean nothing"
        )
    if loaded_model.tokenizer is None:
        pytest.skip(f"{loaded_model.name} has no tokenizer")


def reinitialised(loaded_model):
    """A copy of `loaded_model` whose every layer has fresh random weights (seed 0): the same
    architecture and tokenizer, none of the training. The original is left untouched."""
    import torch

    broken = copy.copy(loaded_model)
    broken.model = copy.deepcopy(loaded_model.model)
    torch.manual_seed(0)
    for module in broken.model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return broken
