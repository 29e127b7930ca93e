"""Model folders lmgauge builds once into its cache: synthetic twins and GGUF conversions.

Both end as ordinary transformers folders (config.json + model.safetensors) that later runs
load with `from_pretrained`, so that load-time benches time a normal load.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lmgauge.compute import seeded
from lmgauge.errors import AssetError
from lmgauge.sources import assets
from lmgauge.sources.cache import building, cache_root, manifest_problems
from lmgauge.sources.models import SYNTHETIC, ModelSpec

SYNTHETIC_SEED = 1234


def model_dir(spec: ModelSpec) -> Path:
    return cache_root() / "models" / spec.name


def ensure_model_folder(spec: ModelSpec) -> Path:
    """The cached transformers folder for a synthetic or embedded-asset model, built if needed.

    An asset that is already a transformers folder is used as it is; an asset holding a GGUF
    file is converted once.
    """
    if spec.source == "asset":
        asset_folder = assets.ensure(spec.location)
        if (asset_folder / "config.json").is_file():
            return asset_folder
    folder = model_dir(spec)
    if folder.exists():
        problems = manifest_problems(folder)
        if not problems:
            return folder
        raise AssetError(
            f"the cached model folder of '{spec.name}' in {folder} is damaged ({problems[0]}); "
            f"run `lmgauge assets --refresh {spec.name}` to rebuild it."
        )
    if spec.source == "synthetic":
        return build_synthetic(spec, folder)
    if spec.source == "scratch":
        return build_scratch(spec, folder)
    if spec.source == "asset":
        gguf_file = next(asset_folder.glob("*.gguf"))
        return convert_gguf(
            gguf_file, folder, about={"model": spec.name, "from_asset": spec.location}
        )
    raise ValueError(f"{spec.name}: source {spec.source} has no cached folder")


def build_synthetic(spec: ModelSpec, folder: Path, seed: int = SYNTHETIC_SEED) -> Path:
    """Build the exact GPT-2 architecture of `spec` with weights drawn from a fixed seed."""
    from transformers import GPT2Config, GPT2LMHeadModel

    about = {"model": spec.name, "weights": SYNTHETIC, "seed": seed, "config": spec.config}
    with building(folder, about) as staging:
        with seeded(seed):
            model = GPT2LMHeadModel(GPT2Config(**spec.config))
        model.save_pretrained(staging)
    return folder


def build_scratch(spec: ModelSpec, folder: Path) -> Path:
    """The from-scratch GPT in the shape of the GPT-2 twin named by `spec.config["twin"]`, with
    that twin's weights copied in, so that the two compute the same function."""
    from transformers import GPT2LMHeadModel

    from lmgauge.sources.models import REGISTRY
    from lmgauge.sources.scratch_gpt import copy_gpt2_weights
    from lmgauge.sources.scratch_hf import ScratchGPTConfig, ScratchGPTForCausalLM

    twin = GPT2LMHeadModel.from_pretrained(ensure_model_folder(REGISTRY[spec.config["twin"]]))
    shape = twin.config
    scratch = ScratchGPTForCausalLM(
        ScratchGPTConfig(
            vocab_size=shape.vocab_size, max_position_embeddings=shape.n_positions,
            hidden_size=shape.n_embd, num_attention_heads=shape.n_head,
            num_hidden_layers=shape.n_layer,
        )
    )  # fmt: skip
    copy_gpt2_weights(scratch.gpt, twin)
    about = {"model": spec.name, "weights": SYNTHETIC, "twin": spec.config["twin"]}
    with building(folder, about) as staging:
        scratch.save_pretrained(staging)
    return folder


def convert_gguf(gguf_file: Path, folder: Path, about: dict) -> Path:
    """De-quantise a GGUF causal LM to a float32 safetensors folder with its tokenizer.

    The model transformers loads from GGUF is marked quantized and refuses to save, so a fresh
    model is built from its config without `quantization_config` and given the state dict.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    config = source.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(source.state_dict(), strict=True)
    with building(folder, {**about, "converted_from": gguf_file.name}) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if source.generation_config is not None:
            source.generation_config.save_pretrained(staging)
    return folder


def refresh_model_folder(spec: ModelSpec) -> Path:
    """Delete and rebuild the cached folder of a synthetic or converted model."""
    if model_dir(spec).exists():
        shutil.rmtree(model_dir(spec))
    return ensure_model_folder(spec)
