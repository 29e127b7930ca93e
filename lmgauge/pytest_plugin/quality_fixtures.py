"""What the accuracy and quality benches share: the thresholds file, recording a figure with its
verdict against it, the real-weights rule, and frozen features extracted once per model.

Accuracy and quality mean nothing for synthetic weights, so those benches skip such models.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
from dataclasses import dataclass

import pytest

from lmgauge.compute import resolve_dtype
from lmgauge.errors import ModelLoadError
from lmgauge.pytest_plugin.state import bench_and_model, run_state
from lmgauge.quality.baselines import QUICK_TRAIN_SENTENCES
from lmgauge.quality.features import extract
from lmgauge.quality.fidelity import (
    CAUSAL_FIGURES,
    CONTROL_BITS,
    CONTROL_TEXTS,
    ENCODER_FIGURES,
    REFERENCE_BATCH,
    compare_logits,
    compare_pooled,
    fidelity_texts,
    in_order_of_length,
    judge_fidelity,
    pooled_states,
    token_ids,
)
from lmgauge.quality.thresholds import find, load_thresholds, verdict
from lmgauge.sources import loading
from lmgauge.sources.configs import REFERENCE, TRANSFORMERS
from lmgauge.sources.data import stratified_rows
from lmgauge.sources.models import CAUSAL_LM, SYNTHETIC

THRESHOLDS_FILE = "benches/thresholds.toml"
SPLITS = ("train", "validation", "test")


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
    """{split: Features} of the polarity train, validation and test splits under this model
    in this configuration, each extracted once per session; a model without real weights or a
    tokenizer skips first."""
    require_real_weights(loaded_model)
    return {split: split_features(loaded_model, polarity, _feature_cache, split)
            for split in SPLITS}  # fmt: skip


@pytest.fixture
def quick_frozen_features(loaded_model, polarity, _feature_cache):
    """({split: Features}, train labels) of the quick tier's baseline: train reduced to
    QUICK_TRAIN_SENTENCES stratified rows (sliced from the whole split's features when this
    session has them, else extracted for those rows alone), validation and test whole."""
    require_real_weights(loaded_model)
    labels = list(polarity["train"]["label"])
    rows = stratified_rows(labels, QUICK_TRAIN_SENTENCES)
    features = {
        split: split_features(loaded_model, polarity, _feature_cache, split,
                              rows if split == "train" else None)
        for split in SPLITS
    }  # fmt: skip
    return features, [labels[index] for index in rows]


def split_features(loaded_model, polarity, cache: dict, split: str, rows=None):
    """Features of one split (of its `rows` only, when given), extracted once per session,
    model and configuration; a subset comes from the whole split's features where the cache
    has them."""
    whole = (loaded_model.name, loaded_model.config.name, split, None)
    if rows is not None and whole in cache:
        return cache[whole].rows(rows)
    key = whole if rows is None else (*whole[:3], tuple(rows))
    if key not in cache:
        texts = polarity[split]["text"]
        texts = texts if rows is None else [texts[index] for index in rows]
        cache[key] = extract(loaded_model, texts, description=f"{split} features")
    return cache[key]


def require_real_weights(loaded_model) -> None:
    """Skip, with the reason, a model whose weights are synthetic, or a transformers subject
    without a tokenizer (other runtimes' calls say for themselves what they lack)."""
    if loaded_model.spec.weights == SYNTHETIC:
        pytest.skip(
            f"{loaded_model.name} has synthetic weights: "
            "its accuracy and output quality would mean nothing"
        )
    if loaded_model.runtime == TRANSFORMERS and loaded_model.tokenizer is None:
        pytest.skip(f"{loaded_model.name} has no tokenizer")


@dataclass
class Reference:
    """The reference configuration's outputs on the fidelity texts of one model: `ids` per
    text, `outputs` (logits for causal LMs, pooled states for encoders), and `controls`, the
    fidelity on the first CONTROL_TEXTS texts of the reference with naively quantized weights
    (lmgauge.quality.fidelity CONTROL_BITS), by control name: the broken controls that the
    fidelity thresholds must reject, only those some figure of the model's task is judged by."""

    ids: list
    outputs: list
    controls: dict


@pytest.fixture(scope="session")
def _references() -> dict:
    return {}


@pytest.fixture
def fidelity_reference(request: pytest.FixtureRequest, polarity, _references):
    """`fidelity_reference(subject)`: the Reference of the subject's model, computed once per
    session on float32 + eager attention weights that are freed before returning: a copy of
    the subject when it is that model's default configuration in float32 (the same weights,
    not read again), else a transient load."""
    state = run_state(request.config)

    def reference(subject) -> Reference:
        spec = subject.spec
        if spec.name not in _references:
            try:
                _references[spec.name] = build_reference(
                    reusable(subject, state.device)
                    or loading.load(spec, state.device, resolve_dtype("float32"), REFERENCE),
                    polarity, state.device,
                )  # fmt: skip
            except ModelLoadError as error:
                pytest.fail(f"the float32 eager reference: {error}", pytrace=False)
            gc.collect()
        return _references[spec.name]

    return reference


def reusable(subject, device):
    """A copy of `subject` switched to the reference's eager attention, when the subject is
    its model's default configuration in float32 transformers on `device` (then the copy holds
    exactly the weights a fresh reference load would); else None."""
    import torch

    if (subject.runtime != TRANSFORMERS or not subject.config.is_default
            or subject.dtype != torch.float32 or subject.device != device):  # fmt: skip
        return None
    model = copy.deepcopy(subject.model)
    model.set_attn_implementation(REFERENCE.attention)
    return dataclasses.replace(subject, model=model, config=REFERENCE)


def build_reference(loaded, polarity, device) -> Reference:
    """The Reference from `loaded` (float32, eager attention), whose weights the broken
    controls then overwrite: the caller drops it afterwards. Causal LMs run REFERENCE_BATCH
    texts per forward pass (right-padded; the padding is masked and never attended to). Only
    the controls some figure is judged by are run, on the first CONTROL_TEXTS texts."""
    from lmgauge.sources.transforms import naive_quantize

    ids = token_ids(loaded.tokenizer, fidelity_texts(polarity))
    causal = loaded.task == CAUSAL_LM

    def outputs_of(model, texts):
        if causal:
            return in_order_of_length(model, texts, device, REFERENCE_BATCH)
        return pooled_states(model, texts, device)

    outputs = outputs_of(loaded.model, ids)
    used = {control for _, _, control in (CAUSAL_FIGURES if causal else ENCODER_FIGURES).values()}
    control_ids, control_outputs = ids[:CONTROL_TEXTS], outputs[:CONTROL_TEXTS]
    controls = {}
    for control, bits in CONTROL_BITS.items():  # fewer bits last: rounding twice is harmless
        if control not in used:
            continue
        broken = outputs_of(naive_quantize(loaded.model, bits), control_ids)
        controls[control] = (compare_logits(control_outputs, broken, control_ids) if causal
                             else compare_pooled(control_outputs, broken))  # fmt: skip
    return Reference(ids=ids, outputs=outputs, controls=controls)


@pytest.fixture
def check_fidelity(loaded_model, thresholds, record, record_judged):
    """`check_fidelity(measured, reference, figures)`: record each fidelity figure with its
    verdict and its control's value (lmgauge.quality.fidelity.judge_fidelity), then fail the
    bench with every figure outside its threshold and every control that passes one."""

    def check(measured, reference: Reference, figures: dict) -> None:
        wrong = judge_fidelity(
            measured, reference.controls, figures,
            lambda metric: find(thresholds, loaded_model.name, metric), record, record_judged,
        )  # fmt: skip
        if wrong:
            pytest.fail("; ".join(wrong), pytrace=False)

    return check
