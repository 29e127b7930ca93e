"""Configurations: how a model runs — runtime, dtype, attention kernel, compilation, quantization.

`--configs LIST` takes comma-separated configurations, each one preset or several joined by
`+` (`sdpa+bf16`); every configuration is applied to every model of `--models`. `default` is
what a run without `--configs` does: transformers, the `--dtype` weights, the attention kernel
the model's config picks. A configuration's canonical name lists its presets in PRESETS order,
so `bf16+sdpa` and `sdpa+bf16` are one configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lmgauge.errors import LmgaugeError

DEFAULT = "default"
TRANSFORMERS = "transformers"
LLAMACPP = "llamacpp"
ONNX_GENAI = "onnx-genai"
"""ONNX Runtime GenAI on the model exported by its model builder (lmgauge.sources.onnx_genai)."""
SERVE = "serve"
"""The runtime of a model behind an OpenAI-compatible server (lmgauge.serve)."""
ENDPOINT = "endpoint"
"""The configuration of a server that runs already (--endpoint URL)."""

PRESETS = {
    "eager": "transformers with attn_implementation='eager'",
    "sdpa": "transformers with attn_implementation='sdpa' (torch scaled_dot_product_attention)",
    "compile": "torch.compile of the model (dynamic shapes); compile time is its own figure",
    "bf16": "weights and activations in bfloat16",
    "fp16": "weights and activations in float16 (meant for CUDA; slow on most CPUs)",
    "int8": "int8 weight-only linear layers, per output channel (torchao Int8WeightOnlyConfig)",
    "int8-dynamic": "torch.ao dynamic quantization: int8 weights and per-tensor int8 "
    "activations in every nn.Linear, head included (deprecated in torch 2.13; CPU only)",
    "naive-int8": "control, not for shipping: every weight matrix, embedding and head included, "
    "rounded to int8 with one scale per tensor and kept in float32",
    "llamacpp": "llama.cpp through llama-cpp-python on the model's GGUF file, as quantized",
    "onnx-genai": "ONNX Runtime GenAI on the model exported once by onnxruntime-genai's model "
    "builder (float32, CPU; Llama-family architectures such as SmolLM2's)",
    "auto": "accelerate device_map='auto': the model spread over the CUDA devices there are",
    "serve-llamacpp": "the model's GGUF file behind llama-cpp-python's OpenAI-compatible server "
    "(--servers llamacpp)",
    "serve-transformers": "the model folder behind `transformers serve` with continuous "
    "batching (--servers transformers)",
    "serve-vllm": "the model folder behind vLLM's OpenAI server, run from an environment of its "
    "own (--servers vllm; lmgauge.serve.vllm_env)",
}
SERVED = {"serve-llamacpp": "llamacpp", "serve-transformers": "transformers", "serve-vllm": "vllm"}
"""Server presets and the server (lmgauge.serve.servers.SERVERS) each starts."""

QUANTIZATIONS = ("int8", "int8-dynamic", "naive-int8")
INSTALL_HINTS = {
    LLAMACPP: "pip install -e .[llamacpp]",
    ONNX_GENAI: "pip install -e .[onnx]",
    "int8": "pip install -e .[quantize]",
}


@dataclass(frozen=True)
class RunConfig:
    """One configuration. None means "as the run's options say" (dtype) or "as the model's
    config says" (attention)."""

    name: str = DEFAULT
    runtime: str = TRANSFORMERS
    attention: str | None = None
    dtype: str | None = None
    compile: bool = False
    quantization: str | None = None
    device_map: str | None = None
    server: str | None = None
    """For runtime SERVE: which server (SERVERS' key, or ENDPOINT)."""

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT

    def describe(self) -> dict:
        """JSON-ready facts for the report's `models` section."""
        return {
            "name": self.name,
            "runtime": self.runtime,
            "attention": self.attention,
            "dtype": self.dtype,
            "compile": self.compile,
            "quantization": self.quantization,
            "device_map": self.device_map,
            "server": self.server,
        }


REFERENCE = RunConfig(name="reference", attention="eager", dtype="float32")
"""What every configuration's quality is compared with: float32, eager attention, transformers."""


def parse_config(text: str) -> RunConfig:
    """One configuration from `preset[+preset...]`; ConfigError with one sentence on a bad one."""
    presets = [part.strip() for part in text.split("+") if part.strip()]
    if presets == [DEFAULT]:
        return RunConfig()
    unknown = [p for p in presets if p not in PRESETS]
    if not presets or unknown:
        raise ConfigError(
            f"unknown configuration '{text}'; presets: {DEFAULT}, {', '.join(PRESETS)} "
            f"(join several with +, e.g. sdpa+bf16)."
        )
    config = RunConfig(name="+".join(p for p in PRESETS if p in presets))
    if len(presets) == 1 and presets[0] in SERVED:
        return replace(config, runtime=SERVE, server=SERVED[presets[0]])
    if set(presets) & set(SERVED):
        raise ConfigError(f"configuration '{text}': a served model runs as its server runs it "
                          "and combines with no other preset.")  # fmt: skip
    for preset in dict.fromkeys(presets):
        config = _apply(config, preset, text)
    return config


def _apply(config: RunConfig, preset: str, text: str) -> RunConfig:
    fields = {
        "eager": ("attention", "eager"),
        "sdpa": ("attention", "sdpa"),
        "bf16": ("dtype", "bfloat16"),
        "fp16": ("dtype", "float16"),
        "compile": ("compile", True),
        "auto": ("device_map", "auto"),
        "llamacpp": ("runtime", LLAMACPP),
        "onnx-genai": ("runtime", ONNX_GENAI),
        **{name: ("quantization", name) for name in QUANTIZATIONS},
    }
    field, value = fields[preset]
    if getattr(config, field) not in (None, False, TRANSFORMERS):
        raise ConfigError(f"configuration '{text}' sets the {field} twice; keep one of them.")
    if config.runtime == LLAMACPP or (preset == "llamacpp" and config.name != "llamacpp"):
        raise ConfigError(
            f"configuration '{text}': llamacpp runs the GGUF file as it is and combines with "
            f"no other preset."
        )
    if config.runtime == ONNX_GENAI or (preset == ONNX_GENAI and config.name != ONNX_GENAI):
        raise ConfigError(
            f"configuration '{text}': onnx-genai runs the model as its builder exported it "
            f"(float32) and combines with no other preset."
        )
    return replace(config, **{field: value})


def parse_configs(text: str | None) -> list[RunConfig]:
    """The configurations of `--configs` in the order given, without repeats; [default] for
    None."""
    if text is None:
        return [RunConfig()]
    configs = {}
    for part in (piece.strip() for piece in text.split(",")):
        if part:
            config = parse_config(part)
            configs.setdefault(config.name, config)
    if not configs:
        raise ConfigError(f"--configs names no configuration in '{text}'.")
    for config in configs.values():
        check_combination(config)
    return list(configs.values())


def served_configs(servers: str | None, endpoint: str | None) -> list[RunConfig]:
    """The configurations --servers LIST and --endpoint URL add: serve-<server> for each server
    named, and `endpoint` for a server that runs already; ConfigError for an unknown server."""
    added = []
    for server in filter(None, (part.strip() for part in (servers or "").split(","))):
        if f"serve-{server}" not in SERVED:
            raise ConfigError(f"unknown server '{server}' in --servers; servers: "
                              f"{', '.join(SERVED.values())}.")  # fmt: skip
        added.append(parse_config(f"serve-{server}"))
    if endpoint:
        added.append(RunConfig(name=ENDPOINT, runtime=SERVE, server=ENDPOINT))
    return added


def check_combination(config: RunConfig) -> None:
    """Refuse, in one sentence, combinations that cannot run."""
    if config.quantization in ("int8-dynamic", "naive-int8") and config.dtype:
        raise ConfigError(
            f"configuration '{config.name}': {config.quantization} works on float32 weights; "
            f"drop the dtype preset."
        )


def check_device(config: RunConfig, device, run_dtype: str = "float32") -> None:
    """Refuse configurations that cannot run on `device` (a torch.device) with the run's
    --dtype (`run_dtype`, a name)."""
    if config.quantization in ("int8-dynamic", "naive-int8") and run_dtype != "float32":
        raise ConfigError(
            f"configuration '{config.name}': {config.quantization} works on float32 weights, "
            f"and --dtype is {run_dtype}."
        )
    if config.device_map and device.type != "cuda":
        raise ConfigError(
            f"configuration '{config.name}': device_map auto spreads a model over CUDA "
            f"devices, and this run's device is {device}."
        )
    if config.quantization == "int8-dynamic" and device.type != "cpu":
        raise ConfigError(
            f"configuration '{config.name}': torch.ao dynamic quantization runs on the CPU only."
        )


def subject_name(model: str, config: RunConfig) -> str:
    """What a run calls a model in a configuration: `model` for the default configuration,
    `model@config` otherwise (the key of the report's `models` section)."""
    return model if config.is_default else f"{model}@{config.name}"


class ConfigError(LmgaugeError):
    """A --configs value that names no preset or combines presets that cannot run together."""
