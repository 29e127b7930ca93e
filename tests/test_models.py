"""The registry turns command-line names into specs, and bad names into one clear sentence."""

import pytest

from lmgauge.errors import UnknownModelError
from lmgauge.model import anatomy
from lmgauge.sources import models


def test_default_models_are_registered_and_gpt2_large_is_not_default():
    assert set(models.DEFAULT_MODELS) <= set(models.REGISTRY)
    assert "gpt2-large" in models.REGISTRY and "gpt2-large" not in models.DEFAULT_MODELS


def test_synthetic_twins_say_so():
    for name in ("distilgpt2", "gpt2", "gpt2-medium", "gpt2-large"):
        spec = models.resolve(name)
        assert spec.weights == models.SYNTHETIC and spec.source == "synthetic"
    assert models.resolve("smollm2-135m").weights == models.REAL


@pytest.mark.parametrize("name", ["distilgpt2", "gpt2", "gpt2-medium", "gpt2-large"])
def test_synthetic_architectures_have_the_published_parameter_counts(name):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    spec = models.REGISTRY[name]
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config(**spec.config))
    assert anatomy.total_parameters(model) == spec.expected_parameters


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownModelError) as caught:
        models.resolve("gpt3")
    message = str(caught.value)
    assert "unknown model 'gpt3'" in message
    for name in models.REGISTRY:
        assert name in message
    assert "hf:" in message


def test_hub_ids_need_a_prefix_or_an_organisation():
    assert models.resolve("hf:gpt2").location == "gpt2"
    assert models.resolve("hf:gpt2").expected_parameters == 124_439_808
    spec = models.resolve("distilbert/distilbert-base-uncased")
    assert spec.source == "hub" and spec.task is None
    with pytest.raises(UnknownModelError, match="names no Hub model"):
        models.resolve("hf:")


def test_missing_local_paths_are_named(tmp_path):
    with pytest.raises(UnknownModelError, match="no model folder or .gguf file exists at"):
        models.resolve(str(tmp_path / "absent"))
    with pytest.raises(UnknownModelError, match="no model folder"):
        models.resolve("./not-here.gguf")


def test_local_folders_and_files(tmp_path, tiny_gpt2_dir, tiny_bert_dir):
    assert models.resolve(str(tiny_gpt2_dir)).task == models.CAUSAL_LM
    assert models.resolve(str(tiny_bert_dir)).task == models.ENCODER
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnknownModelError, match="not a .gguf model"):
        models.resolve(str(tmp_path / "notes.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownModelError, match="without config.json"):
        models.resolve(str(tmp_path / "empty"))
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    assert models.resolve(str(tmp_path / "model.gguf")).source == "gguf"


def test_resolve_many_keeps_order_and_drops_repeats():
    specs = models.resolve_many("gpt2, distilgpt2,gpt2")
    assert [spec.name for spec in specs] == ["gpt2", "distilgpt2"]
    with pytest.raises(UnknownModelError):
        models.resolve_many(" , ")
