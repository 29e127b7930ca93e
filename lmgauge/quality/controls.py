"""Broken controls: deliberately broken inputs or models that a quality threshold must fail.

A threshold that a broken control passes cannot fail, so every threshold in
benches/thresholds.toml has one: training labels shuffled, a model's weights re-initialised,
known answers rotated between prompts, a sentence's words shuffled.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable

from lmgauge.compute import seeded
from lmgauge.quality.thresholds import Threshold

SEED = 0


def reinitialised(loaded_model, seed: int = SEED):
    """A copy of `loaded_model` whose weights are freshly initialised by its own architecture's
    initialiser (seeded; torch's generators are left as they were): the same architecture,
    tokenizer, device and dtype, none of the training. The original is left untouched."""
    model = loaded_model.model
    with seeded(seed, loaded_model.device):
        fresh = type(model)(copy.deepcopy(model.config))
    broken = copy.copy(loaded_model)
    broken.model = fresh.to(device=loaded_model.device, dtype=loaded_model.dtype).eval()
    return broken


def shuffled_words(sentences: list[str], seed: int = SEED) -> list[str]:
    """The same sentences with their words in a seeded random order."""
    generator = random.Random(seed)
    shuffled = []
    for sentence in sentences:
        words = sentence.split()
        generator.shuffle(words)
        shuffled.append(" ".join(words))
    return shuffled


def control_escapes(
    threshold: Threshold | None, control: float, real: float, direction: str
) -> str | None:
    """Why a broken control's figure is not caught by the threshold of the figure it mimics,
    or None when it is. A control must fail the threshold and do worse than a real figure that
    passes it (`direction`: "higher" or "lower" is better); a real figure that fails is its own
    failure. Without a threshold (a Hub model, say) the
    control can only be recorded: None."""
    if threshold is None:
        return None
    if threshold.passes(control):
        return (f"the broken control passes {threshold.figure()}: {control:.4g} is "
                f"{threshold.bounds()}, as a working model's must be, so the threshold cannot "
                "tell a working model from a broken one")
    worse = control < real if direction == "higher" else control > real
    if not worse and threshold.passes(real):
        return f"the broken control scores {control:.4g}, no worse than the real {real:.4g}"
    return None


def judge_control(
    guards: list[Threshold], control: str, score_of: Callable[[str, str], dict], record
) -> list[str]:
    """Record a broken control's accuracy for every guarded baseline figure; return the
    thresholds it still passes (each explained), which should be none.

    guards: baseline_accuracy thresholds, whose params name features, classifier and split;
    score_of(features, classifier): {split: {"accuracy": ...}} of the control, called once per
    (features, classifier); record: the bench's `record` fixture."""
    scores, passed = {}, []
    for threshold in guards:
        p = threshold.params
        key = (p["features"], p["classifier"])
        if key not in scores:
            scores[key] = score_of(*key)
        accuracy = record(
            "control_accuracy", scores[key][p["split"]]["accuracy"], control=control, **p
        ).value
        if threshold.passes(accuracy):
            passed.append(threshold.explain(accuracy))
    return passed
