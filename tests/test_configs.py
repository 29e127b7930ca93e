"""Configurations: parsing the presets, loading a model in one, and what they do to it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from lmgauge.errors import RuntimeMissing
from lmgauge.runtimes import LoadSettings, load_subject
from lmgauge.sources import configs
from lmgauge.sources.configs import ConfigError, parse_config, parse_configs, subject_name
from lmgauge.sources.models import resolve
from lmgauge.sources.transforms import naive_quantize


def test_presets_combine_in_one_canonical_order():
    config = parse_config("bf16+sdpa")
    assert config == parse_config("sdpa+bf16")
    assert (config.name, config.attention, config.dtype) == ("sdpa+bf16", "sdpa", "bfloat16")
    assert parse_config("default").is_default and not config.is_default
    assert parse_config("llamacpp").runtime == configs.LLAMACPP
    assert parse_config("compile+int8").compile and parse_config("int8").quantization == "int8"


def test_the_configs_option_keeps_order_and_drops_repeats():
    names = [c.name for c in parse_configs("eager, sdpa+bf16,bf16+sdpa,,int8")]
    assert names == ["eager", "sdpa+bf16", "int8"]
    assert [c.name for c in parse_configs(None)] == ["default"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("turbo", "unknown configuration 'turbo'; presets: default, eager, sdpa"),
        ("eager+sdpa", "sets the attention twice"),
        ("bf16+fp16", "sets the dtype twice"),
        ("llamacpp+bf16", "combines with no other preset"),
        ("bf16+llamacpp", "combines with no other preset"),
        ("onnx-genai+sdpa", "onnx-genai runs the model as its builder exported it"),
        ("bf16+onnx-genai", "combines with no other preset"),
        ("int8-dynamic+bf16", "works on float32 weights"),
        (",", "names no configuration"),
    ],
)
def test_a_bad_configuration_is_one_sentence(text, says):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_configs(text)


def test_device_map_auto_needs_cuda():
    with pytest.raises(ConfigError, match="spreads a model over CUDA devices"):
        configs.check_device(parse_config("auto"), torch.device("cpu"))


def test_subjects_are_named_model_at_config():
    assert subject_name("gpt2", parse_config("default")) == "gpt2"
    assert subject_name("gpt2", parse_config("bf16+sdpa")) == "gpt2@sdpa+bf16"


def load(folder, text):
    """A subject as the benches load it, from plain Python (lmgauge.runtimes)."""
    return load_subject(resolve(str(folder)), parse_config(text), LoadSettings())


def test_an_unknown_runtime_is_one_sentence(tiny_gpt2_dir):
    config = replace(parse_config("default"), runtime="onnx")
    expected = "names the runtime 'onnx', which lmgauge does not have; runtimes: transformers"
    with pytest.raises(ConfigError, match=expected):
        load_subject(resolve(str(tiny_gpt2_dir)), config, LoadSettings())


def logits(loaded, ids):
    with torch.inference_mode():
        return loaded.model(input_ids=ids).logits.float()


def test_attention_and_dtype_reach_from_pretrained(tiny_gpt2_dir):
    eager, sdpa = load(tiny_gpt2_dir, "eager"), load(tiny_gpt2_dir, "sdpa+bf16")
    assert eager.model.config._attn_implementation == "eager"
    assert sdpa.model.config._attn_implementation == "sdpa"
    assert sdpa.dtype == torch.bfloat16 == next(sdpa.model.parameters()).dtype
    assert sdpa.describe()["config"]["name"] == "sdpa+bf16"
    assert sdpa.describe()["attention"] == "sdpa"


def test_int8_schemes_quantize_and_time_it(tiny_gpt2_dir):
    ids = torch.arange(1, 17).unsqueeze(0)
    reference = logits(load(tiny_gpt2_dir, "eager"), ids)
    for scheme in ("int8", "int8-dynamic"):
        loaded = load(tiny_gpt2_dir, scheme)
        assert loaded.transform_seconds["quantize"] > 0
        assert torch.allclose(logits(loaded, ids), reference, atol=0.05), scheme
    dynamic = load(tiny_gpt2_dir, "int8-dynamic").model
    assert not any(isinstance(m, torch.nn.Linear) for m in dynamic.transformer.h.modules())


def test_int8_without_torchao_says_how_to_install_it(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torchao.quantization", None)
    with pytest.raises(RuntimeMissing, match=r"pip install -e \.\[quantize\]"):
        load(tiny_gpt2_dir, "int8")


def test_naive_quantization_rounds_every_matrix_to_few_levels():
    layer = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 8))
    naive_quantize(layer, bits=4)
    for parameter in layer.parameters():
        if parameter.dim() == 2:
            scale = parameter.abs().max() / 7
            levels = torch.round(parameter / scale)
            assert torch.allclose(levels * scale, parameter) and levels.unique().numel() <= 15


@pytest.mark.slow
def test_compile_records_its_time_and_keeps_the_outputs(tiny_gpt2_dir):
    ids = torch.arange(1, 9).unsqueeze(0)
    compiled = load(tiny_gpt2_dir, "compile")
    assert compiled.transform_seconds["compile"] > 0
    assert compiled.model.generation_config.cache_implementation == "static"
    reference = logits(load(tiny_gpt2_dir, "default"), ids)
    assert torch.allclose(logits(compiled, ids), reference, atol=1e-4)


def test_a_thread_sweep_with_a_runtime_that_opens_once_is_one_sentence():
    from lmgauge.pytest_plugin.options import check_thread_sweep

    native = parse_configs("default,llamacpp,onnx-genai")
    with pytest.raises(ValueError, match=r"--threads 1,2 with llamacpp, onnx-genai is refused"):
        check_thread_sweep(native, [1, 2], "1,2")
    check_thread_sweep(native, [2], "2")
    check_thread_sweep(parse_configs("default,sdpa"), [1, 2], "1,2")
