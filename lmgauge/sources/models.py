"""The model registry: a name on the command line becomes a ModelSpec saying what the model is.

A spec names where the weights come from (`source`), what kind of model it is (`task`), and
whether its weights are real or synthetic (random weights in an exact published architecture:
right for size and speed, meaningless for output quality). Reports carry these fields so that
synthetic weights are never presented as real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lmgauge.errors import UnknownModelError
from lmgauge.sources.cache import read_manifest

CAUSAL_LM = "causal-lm"
ENCODER = "encoder"

BUILT_SOURCES = ("asset", "synthetic", "scratch")
"""Sources whose files lmgauge builds or extracts into its cache (lmgauge.sources.builders)."""

REAL = "real"
SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class ModelSpec:
    """What a model is and where it comes from.

    source: "asset" (an embedded offline asset), "synthetic" (built from `config`), "scratch"
    (the from-scratch GPT with the weights of the twin named in `config`), "hub"
    (a Hugging Face Hub id), "local" (a folder with config.json) or "gguf" (a local .gguf file).
    location: the asset name, Hub id or path. task: CAUSAL_LM, ENCODER, or None when only the
    loaded config can tell (Hub ids). expected_parameters: the published total parameter count,
    when known, which the parameter bench checks exactly.
    """

    name: str
    source: str
    location: str
    task: str | None
    weights: str
    architecture: str | None = None
    expected_parameters: int | None = None
    description: str = ""
    config: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """What the report's `models` section says of the spec, before anything is loaded."""
        return {
            "name": self.name, "source": self.source, "location": self.location,
            "weights": self.weights, "task": self.task, "description": self.description,
            **({"twin": self.config["twin"]} if "twin" in self.config else {}),
        }  # fmt: skip


def _gpt2_twin(name: str, params: int, **config) -> ModelSpec:
    shape = ", ".join(f"{key}={value}" for key, value in config.items()) or "defaults"
    return ModelSpec(
        name=name,
        source="synthetic",
        location=f"GPT2Config({shape})",
        task=CAUSAL_LM,
        weights=SYNTHETIC,
        architecture="GPT2LMHeadModel",
        expected_parameters=params,
        description=f"exact {name} architecture with seeded random weights (Hub id {name})",
        config=dict(config),
    )


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            source="asset",
            location="smollm2-135m-gguf",
            task=CAUSAL_LM,
            weights=REAL,
            architecture="LlamaForCausalLM",
            expected_parameters=134_515_008,
            description="SmolLM2-135M-Instruct, de-quantised from GGUF Q4_1 to float32",
        ),
        ModelSpec(
            name="minilm-l6",
            source="asset",
            location="minilm-l6",
            task=ENCODER,
            weights=REAL,
            architecture="BertModel",
            expected_parameters=22_713_216,
            description="sentence-transformers all-MiniLM-L6-v2 encoder",
        ),
        _gpt2_twin("distilgpt2", 81_912_576, n_layer=6),
        _gpt2_twin("gpt2", 124_439_808),
        _gpt2_twin("gpt2-medium", 354_823_168, n_embd=1024, n_layer=24, n_head=16),
        _gpt2_twin("gpt2-large", 774_030_080, n_embd=1280, n_layer=36, n_head=20),
        ModelSpec(
            name="scratch-gpt2",
            source="scratch",
            location="ScratchGPT(GPT-2 small) with the gpt2 twin's weights",
            task=CAUSAL_LM,
            weights=SYNTHETIC,
            architecture="ScratchGPTForCausalLM",
            expected_parameters=124_439_808,
            description="the course's GPT written from scratch (lmgauge.sources.scratch_gpt), "
            "GPT-2 small shape, weights copied from the gpt2 twin, no KV cache",
            config={"twin": "gpt2"},
        ),
    )
}

DEFAULT_MODELS = ("smollm2-135m", "minilm-l6", "distilgpt2", "gpt2", "gpt2-medium")

HUB_PREFIX = "hf:"

PUBLISHED_PARAMETER_COUNTS = {
    "distilgpt2": 81_912_576,
    "distilbert/distilgpt2": 81_912_576,
    "gpt2": 124_439_808,
    "openai-community/gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "openai-community/gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "openai-community/gpt2-large": 774_030_080,
    "HuggingFaceTB/SmolLM2-135M-Instruct": 134_515_008,
    "HuggingFaceTB/SmolLM2-135M": 134_515_008,
    "sentence-transformers/all-MiniLM-L6-v2": 22_713_216,
}
"""Total parameters of Hub checkpoints as their base class loads them (tied weights once)."""


def known_names() -> list[str]:
    return sorted(REGISTRY)


def resolve(text: str) -> ModelSpec:
    """The spec for a name given on the command line.

    Accepted: a registered name; `hf:ID` or `org/name` for a Hugging Face Hub model; a path to
    a local model folder or `.gguf` file. Anything else raises UnknownModelError listing the
    registered names.
    """
    text = text.strip()
    if text in REGISTRY:
        return REGISTRY[text]
    if text.startswith(HUB_PREFIX):
        return _hub_spec(text, text[len(HUB_PREFIX) :])
    path = Path(text).expanduser()
    if path.exists():
        return _local_spec(text, path)
    if _looks_like_path(text):
        raise UnknownModelError(f"no model folder or .gguf file exists at {path.resolve()}.")
    if "/" in text:
        return _hub_spec(text, text)
    raise UnknownModelError(
        f"unknown model '{text}'; known models: {', '.join(known_names())} "
        f"(or hf:ID for a Hugging Face Hub model, or the path of a local folder or .gguf file)."
    )


def resolve_many(text: str) -> list[ModelSpec]:
    """Specs for a comma-separated list, in order, without repeats."""
    names = [part for part in (piece.strip() for piece in text.split(",")) if part]
    if not names:
        raise UnknownModelError(
            f"no model named in '{text}'; known models: {', '.join(known_names())}."
        )
    specs = {}
    for name in names:
        spec = resolve(name)
        specs.setdefault(spec.name, spec)
    return list(specs.values())


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith(".gguf")


def _hub_spec(name: str, repo_id: str) -> ModelSpec:
    if not repo_id:
        raise UnknownModelError(f"'{name}' names no Hub model; write it as hf:ORG/NAME or hf:NAME.")
    return ModelSpec(
        name=name,
        source="hub",
        location=repo_id,
        task=None,
        weights=REAL,
        expected_parameters=PUBLISHED_PARAMETER_COUNTS.get(repo_id),
        description=f"Hugging Face Hub model {repo_id}",
    )


def _local_spec(name: str, path: Path) -> ModelSpec:
    path = path.resolve()
    if path.is_file():
        if path.suffix != ".gguf":
            raise UnknownModelError(
                f"{path} is a file but not a .gguf model; give a model folder or a .gguf file."
            )
        return ModelSpec(
            name=name,
            source="gguf",
            location=str(path),
            task=CAUSAL_LM,
            weights=REAL,
            description=f"GGUF file {path.name}",
        )
    config_file = path / "config.json"
    if not config_file.is_file():
        raise UnknownModelError(
            f"{path} is a folder without config.json, so it is not a transformers model folder."
        )
    try:
        config = json.loads(config_file.read_text())
    except ValueError as error:
        raise UnknownModelError(f"{config_file} is not valid JSON ({error}).") from None
    architecture = (config.get("architectures") or [None])[0]
    return ModelSpec(
        name=name,
        source="local",
        location=str(path),
        task=task_of(architecture),
        weights=_weights_of_folder(path),
        architecture=architecture,
        description=f"local folder {path}",
    )


def task_of(architecture: str | None) -> str:
    """CAUSAL_LM for a generative head (`...ForCausalLM`, `...LMHeadModel`), else ENCODER."""
    if architecture and architecture.endswith(("ForCausalLM", "LMHeadModel")):
        return CAUSAL_LM
    return ENCODER


def _weights_of_folder(path: Path) -> str:
    """SYNTHETIC when lmgauge's own manifest in the folder says so, else REAL."""
    manifest = read_manifest(path) or {}
    return manifest.get("about", {}).get("weights", REAL)
