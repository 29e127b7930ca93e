"""What a configuration does to a model after it is loaded: quantization and torch.compile.

Each step is timed on its own (LoadedModel.transform_seconds), outside the load time and the
benches' timed rounds.
"""

from __future__ import annotations

import time
import warnings

from lmgauge.compute import synchronizer
from lmgauge.errors import ModelLoadError, RuntimeMissing, first_line
from lmgauge.sources.configs import INSTALL_HINTS
from lmgauge.sources.models import CAUSAL_LM

COMPILE_WARMUPS = ((8, 2), (16, 4))
"""(prompt tokens, new tokens) of the generate calls that compile a causal LM. torch.compile
specialises on the first shapes it sees and marks a dimension dynamic when a second shape
arrives; two shapes leave graphs that later prompt and cache lengths reuse."""


def apply_config(loaded) -> None:
    """Quantize and/or compile `loaded` (a LoadedModel) as its configuration says, in place."""
    config = loaded.config
    if config.quantization:
        started = time.perf_counter()
        loaded.model = quantize(loaded.model, config.quantization)
        loaded.transform_seconds["quantize"] = time.perf_counter() - started
    if config.compile:
        loaded.transform_seconds["compile"] = compile_model(loaded)


def quantize(model, scheme: str):
    """`model` with its weights quantized by `scheme` (see lmgauge.sources.configs.PRESETS)."""
    if scheme == "int8":
        return int8_weight_only(model)
    if scheme == "int8-dynamic":
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the API and its qint8 tensors
            warnings.simplefilter("ignore", UserWarning)
            return torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
    if scheme == "naive-int8":
        return naive_quantize(model, bits=8)
    raise ValueError(f"unknown quantization {scheme}")


def int8_weight_only(model):
    """torchao's int8 weight-only quantization of every nn.Linear (one scale per output row);
    activations stay in the model's dtype."""
    try:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except ImportError:
        raise RuntimeMissing(
            f"torchao is not installed, so the int8 configuration cannot run; install it with "
            f"`{INSTALL_HINTS['int8']}`."
        ) from None
    quantize_(model, Int8WeightOnlyConfig())
    return model


def naive_quantize(model, bits: int = 8):
    """A broken control: every 2-D weight (embeddings and head included) rounded to signed
    `bits`-bit levels with one scale per whole tensor (its largest magnitude / (2^(bits-1) - 1)),
    kept in float. Outlier weights set the scale, so most small weights lose their precision."""
    import torch

    levels = 2 ** (bits - 1) - 1
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                scale = parameter.abs().max() / levels
                parameter.copy_(torch.round(parameter / scale) * scale)
    return model


def compile_model(loaded) -> float:
    """torch.compile the model's forward and run the calls that compile it; returns the wall
    time, in seconds, of compiling and those calls. A causal LM generates with a static KV
    cache (fixed tensor shapes, the layout transformers documents for compiled generation)."""
    import torch

    model = loaded.model
    started = time.perf_counter()
    if loaded.task == CAUSAL_LM:
        model.generation_config.cache_implementation = "static"
    model.forward = torch.compile(model.forward)
    try:
        for prompt_tokens, new_tokens in COMPILE_WARMUPS:
            compile_call(model, loaded.task, prompt_tokens, new_tokens, loaded.device)
    except Exception as error:  # noqa: BLE001 - a failed compile is one sentence
        raise ModelLoadError(
            f"torch.compile failed on model '{loaded.name}': {type(error).__name__}: "
            f"{first_line(error, 300)}"
        ) from None
    synchronizer(loaded.device)()
    return time.perf_counter() - started


def compile_call(model, task: str, prompt_tokens: int, new_tokens: int, device) -> None:
    import torch

    vocab = model.config.vocab_size
    ids = torch.arange(prompt_tokens, device=device).remainder(vocab - 1).unsqueeze(0) + 1
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        if task == CAUSAL_LM:
            model.generate(
                input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1,
                eos_token_id=None,
                max_new_tokens=new_tokens, pad_token_id=0,
            )  # fmt: skip
        else:
            model(input_ids=ids, attention_mask=mask)
