"""Parameter anatomy of each model: architecture invariants, recorded and checked.

A published total parameter count that does not match fails: the model loaded is not the
architecture it claims to be. The breakdowns are recorded (they add up to the total by
construction, so asserting that would test nothing).
"""

from __future__ import annotations

import pytest

from lmgauge.compute import dtype_name
from lmgauge.model import anatomy


@pytest.fixture(autouse=True)
def _countable(loaded_model):
    """int8-dynamic replaces every nn.Linear by a module with packed weights and no
    parameters: its counts would describe another model."""
    if loaded_model.config.quantization == "int8-dynamic":
        pytest.skip(
            "int8-dynamic packs the linear weights outside nn.Parameter; parameter counts are "
            "the same model's in any other configuration"
        )


def test_parameter_counts(loaded_model, record):
    model = loaded_model.model
    total = anatomy.total_parameters(model)
    record("parameters_total", total)
    record("parameters_trainable", anatomy.trainable_parameters(model))
    record("parameters_non_embedding", anatomy.non_embedding_parameters(model))
    expected = loaded_model.spec.expected_parameters
    if loaded_model.config.quantization:
        pytest.skip(
            f"{loaded_model.config.quantization} rewrites the weights (int8 unties a tied head); "
            f"recorded {total:,}, not compared with the published count"
        )
    if expected is None:
        pytest.skip(f"no published parameter count for {loaded_model.name}; recorded {total:,}")
    assert total == expected, (
        f"{loaded_model.name} has {total:,} parameters, published {expected:,}"
    )


def test_parameter_breakdown(loaded_model, record):
    model = loaded_model.model
    total = anatomy.total_parameters(model)
    by_module = anatomy.parameters_by_module(model)
    by_layer_type = anatomy.parameters_by_layer_type(model)
    for module, count in by_module.items():
        record("parameters_by_module", count, module=module)
    for layer_type, count in by_layer_type.items():
        record("parameters_by_layer_type", count, layer_type=layer_type)
    assert 0 < anatomy.non_embedding_parameters(model) < total


def test_bytes_in_memory_and_on_disk(loaded_model, record):
    model = loaded_model.model
    by_dtype = anatomy.bytes_by_dtype(model)
    for dtype, size in by_dtype.items():
        record("weight_bytes", size, dtype=dtype)
    files = loaded_model.weight_files()
    disk = sum(path.stat().st_size for path in files)
    record("disk_bytes", disk)
    assert disk > 0
    if loaded_model.config.quantization:
        return
    loaded_dtype = dtype_name(loaded_model.dtype)
    element = loaded_model.dtype.itemsize
    assert by_dtype.get(loaded_dtype, 0) >= anatomy.total_parameters(model) * element


def test_vocabulary(loaded_model, record):
    embedding_rows = loaded_model.model.get_input_embeddings().weight.shape[0]
    record("model_vocab_size", embedding_rows)
    tokenizer = loaded_model.tokenizer
    if tokenizer is None:
        pytest.skip(f"{loaded_model.name} has no tokenizer ({loaded_model.spec.weights} weights)")
    record("tokenizer_vocab_size", len(tokenizer))
    assert len(tokenizer) <= embedding_rows, "the tokenizer makes ids the embedding cannot look up"
