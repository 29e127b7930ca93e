"""Loading transformers folders: local, Hub (from an offline Hub cache), GGUF, and failures."""

import shutil

import pytest

from lmgauge import compute
from lmgauge.errors import ModelLoadError
from lmgauge.sources import loading, models
from tests.tiny_models import hub_cache_entry

CPU = compute.resolve_device("cpu")
FP32 = compute.resolve_dtype("float32")


def test_local_causal_lm_and_encoder(tiny_gpt2_dir, tiny_bert_dir):
    causal = loading.load(models.resolve(str(tiny_gpt2_dir)), CPU, FP32)
    assert causal.task == models.CAUSAL_LM and causal.architecture == "GPT2LMHeadModel"
    assert causal.tokenizer is not None and not causal.model.training
    assert [p.name for p in causal.weight_files()] == ["model.safetensors"]
    encoder = loading.load(models.resolve(str(tiny_bert_dir)), CPU, FP32)
    assert encoder.task == models.ENCODER and encoder.architecture == "BertModel"
    facts = encoder.describe()
    assert facts["tokenizer"]["pad_token"] == "[PAD]" and facts["dtype"] == "float32"


def test_half_precision_load(tiny_gpt2_dir):
    loaded = loading.load(
        models.resolve(str(tiny_gpt2_dir)), CPU, compute.resolve_dtype("bfloat16")
    )
    assert next(loaded.model.parameters()).dtype == compute.resolve_dtype("bfloat16")


def test_corrupt_weights_fail_with_one_sentence(tmp_path, tiny_gpt2_dir):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_gpt2_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError) as caught:
        loading.load(models.resolve(str(broken)), CPU, FP32)
    message = str(caught.value)
    assert message.startswith(f"model '{broken}' could not be loaded from {broken}:")
    assert "\n" not in message


@pytest.fixture
def offline_hub(tmp_path, monkeypatch, tiny_gpt2_dir):
    """A Hugging Face cache holding `tinyorg/tiny-gpt2`, with the Hub switched off."""
    from huggingface_hub import constants

    snapshot = hub_cache_entry(tmp_path / "hub", "tinyorg/tiny-gpt2", tiny_gpt2_dir)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return snapshot


def test_hub_id_loads_from_the_hub_cache_offline(offline_hub):
    spec = models.resolve("hf:tinyorg/tiny-gpt2")
    assert spec.source == "hub" and spec.task is None
    loaded = loading.load(spec, CPU, FP32)
    assert loaded.task == models.CAUSAL_LM and loaded.folder == offline_hub
    assert loaded.describe()["source"] == "hub"


def test_hub_id_not_cached_offline_is_one_sentence(offline_hub):
    with pytest.raises(ModelLoadError) as caught:
        loading.load(models.resolve("hf:tinyorg/absent"), CPU, FP32)
    message = str(caught.value)
    assert "could not get Hub model 'tinyorg/absent'" in message and "\n" not in message


def test_synthetic_folder_is_marked_synthetic_when_loaded_by_path(cache):
    from lmgauge.sources import builders

    spec = models.ModelSpec(
        name="tiny-twin",
        source="synthetic",
        location="GPT2Config(...)",
        task=models.CAUSAL_LM,
        weights=models.SYNTHETIC,
        config={"n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 32},
    )
    folder = builders.ensure_model_folder(spec)
    assert models.resolve(str(folder)).weights == models.SYNTHETIC
    again = builders.refresh_model_folder(spec)
    first = loading.load(models.resolve(str(folder)), CPU, FP32).model.state_dict()
    second = loading.load(models.resolve(str(again)), CPU, FP32).model.state_dict()
    assert all((first[key] == second[key]).all() for key in first), "seeded weights are repeatable"


def test_local_gguf_file_loads_dequantised_with_its_tokenizer(tiny_gguf_file):
    from lmgauge.model import anatomy

    loaded = loading.load(models.resolve(str(tiny_gguf_file)), CPU, FP32)
    assert loaded.architecture == "LlamaForCausalLM" and loaded.gguf_file == tiny_gguf_file.name
    assert anatomy.total_parameters(loaded.model) == 10_832
    assert loaded.weight_files() == [tiny_gguf_file]
    assert loaded.tokenizer("hello").input_ids == [71, 68, 75, 75, 78]


def test_gguf_conversion_gives_a_plain_folder_with_the_same_weights(tmp_path, tiny_gguf_file):
    from lmgauge.sources import builders

    folder = builders.convert_gguf(tiny_gguf_file, tmp_path / "converted", about={"model": "t"})
    converted = loading.load(models.resolve(str(folder)), CPU, FP32)
    direct = loading.load(models.resolve(str(tiny_gguf_file)), CPU, FP32)
    assert [p.name for p in converted.weight_files()] == ["model.safetensors"]
    assert not hasattr(converted.model.config, "quantization_config")
    first, second = converted.model.state_dict(), direct.model.state_dict()
    assert first.keys() == second.keys()
    assert all((first[key] == second[key]).all() for key in first)
    assert converted.tokenizer("hello").input_ids == direct.tokenizer("hello").input_ids
