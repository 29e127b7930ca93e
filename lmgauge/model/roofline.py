"""Lower bounds on latency from the model's size and the calibrated roofs of the machine.

A step can be no faster than the larger of two times: reading the bytes it must read at the
measured bandwidth, and doing its floating-point work at the measured matmul rate.

- Weights read per forward: the matmul weights (every Linear and the LM head), in the loaded
  dtype. Embedding lookups read a row per token and are left out.
- FLOPs per token: 2 x matmul parameters. The LM head runs on the last position only during
  a prefill (generate asks for the last logits only), so a prefill over T tokens costs
  2 x (body parameters x T + head parameters). Attention score work (grows with context) is
  left out, so the compute bound is a slight underestimate at long contexts.
- KV cache read per decode step: 2 (keys, values) x layers x key/value heads x head size x
  dtype bytes for every cached token of every sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmgauge.model import anatomy

ROOF_TOLERANCE = 1.2
"""An efficiency (bound / measured) above this means the roofline model is broken, not fast."""
ROOF_BROKEN = (
    "measured faster than its roofline bound by more than 20 %: the calibration underestimated "
    "the machine or the cost model is wrong"
)


@dataclass(frozen=True)
class ModelCost:
    """body_parameters: matmul parameters outside the LM head (count); head_parameters: the LM
    head's (0 for encoders); weight_bytes: bytes of both read per forward; kv_bytes_per_token:
    bytes of cache per token per sequence (0 for encoders)."""

    body_parameters: int
    head_parameters: int
    weight_bytes: int
    kv_bytes_per_token: int

    @property
    def matmul_parameters(self) -> int:
        return self.body_parameters + self.head_parameters


def kv_bytes_per_token(config, itemsize: int) -> int:
    """Bytes the KV cache holds per token of one sequence, from the model config."""
    layers = config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_size = getattr(config, "head_dim", None) or config.hidden_size // heads
    return 2 * layers * kv_heads * head_size * itemsize


def model_cost(model, dtype, causal: bool, weight_itemsize: int | None = None) -> ModelCost:
    """The cost of one forward of `model` with activations and KV cache in `dtype`; matmul
    weights take `weight_itemsize` bytes per element (default: dtype's)."""
    head = anatomy.output_head_parameters(model)
    body = anatomy.matmul_parameters(model) - head
    return ModelCost(
        body_parameters=body,
        head_parameters=head,
        weight_bytes=(body + head) * (weight_itemsize or dtype.itemsize),
        kv_bytes_per_token=kv_bytes_per_token(model.config, dtype.itemsize) if causal else 0,
    )


INT8_WEIGHTS = ("int8", "int8-dynamic")


def configured_cost(loaded, causal: bool) -> ModelCost | None:
    """The cost of `loaded` (a LoadedModel) as its configuration runs it: int8 configurations
    read one byte per matmul weight. None for int8-dynamic, whose packed linear layers leave no
    parameters to count, so no bound can be drawn for it."""
    scheme = loaded.config.quantization
    if scheme == "int8-dynamic":
        return None
    itemsize = 1 if scheme in INT8_WEIGHTS else None
    return model_cost(loaded.model, loaded.dtype, causal, weight_itemsize=itemsize)


def decode_step_bound_s(cost: ModelCost, batch: int, context_tokens: float, calibration) -> float:
    """Fastest possible decode step (s): one new token for each of `batch` sequences that
    already hold `context_tokens` tokens in their cache."""
    read = cost.weight_bytes + batch * context_tokens * cost.kv_bytes_per_token
    memory = read / calibration.bandwidth_bytes_per_s
    compute = 2 * cost.matmul_parameters * batch / calibration.matmul_flops_per_s
    return max(memory, compute)


def no_cache_step_bound_s(cost: ModelCost, batch: int, context_tokens: float, calibration) -> float:
    """Fastest possible decode step (s) of a model that keeps no KV cache: a forward over the
    whole prefix of `context_tokens` tokens (rounded) in each of `batch` sequences."""
    return forward_bound_s(cost, batch, round(context_tokens), calibration)


def forward_bound_s(cost: ModelCost, batch: int, tokens: int, calibration) -> float:
    """Fastest possible forward pass (s) over `tokens` tokens in each of `batch` sequences
    (a prefill with logits for the last position only, or an encoder pass)."""
    flops = 2 * batch * (cost.body_parameters * tokens + cost.head_parameters)
    compute = flops / calibration.matmul_flops_per_s
    memory = cost.weight_bytes / calibration.bandwidth_bytes_per_s
    return max(memory, compute)
