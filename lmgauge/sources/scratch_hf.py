"""The from-scratch GPT (lmgauge.sources.scratch_gpt) dressed as a transformers model, so that
`from_pretrained`, `generate` and every bench that drives a transformers causal LM drive it too.

The wrapper adds no computation: `forward` runs the course model's own modules (embeddings,
blocks, final norm, tied head) and nothing else. It keeps no KV cache
(`config.use_cache` is False), so `generate` runs the whole prefix through the model at every
step, exactly as the course's `generate` does. The attention mask is not applied: the course
model has none, so padded positions are attended to (batch timings hold; padded rows' outputs
differ from a masked model's). Importing this module registers the model type with the Auto
classes.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutputWithPast

from lmgauge.sources.scratch_gpt import ScratchConfig, ScratchGPT

MODEL_TYPE = "lmgauge-scratch-gpt"


class ScratchGPTConfig(PretrainedConfig):
    """ScratchConfig's fields under transformers' common names (hidden_size, num_hidden_layers,
    num_attention_heads, max_position_embeddings), which the benches read."""

    model_type = MODEL_TYPE

    def __init__(self, vocab_size=50257, max_position_embeddings=1024, hidden_size=768,
                 num_attention_heads=12, num_hidden_layers=12, dropout=0.0, bias=True,
                 **kwargs):  # fmt: skip
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.num_hidden_layers = num_hidden_layers
        self.dropout = dropout
        self.bias = bias
        kwargs.pop("use_cache", None)
        kwargs.setdefault("tie_word_embeddings", True)
        super().__init__(**kwargs)
        self.use_cache = False

    def scratch(self) -> ScratchConfig:
        return ScratchConfig(
            vocab_size=self.vocab_size, context=self.max_position_embeddings,
            width=self.hidden_size, heads=self.num_attention_heads,
            layers=self.num_hidden_layers, dropout=self.dropout, bias=self.bias,
        )  # fmt: skip


class ScratchGPTForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = ScratchGPTConfig
    base_model_prefix = "gpt"
    main_input_name = "input_ids"
    _tied_weights_keys = {"gpt.head.weight": "gpt.tokens.weight"}
    supports_gradient_checkpointing = True

    def __init__(self, config: ScratchGPTConfig):
        super().__init__(config)
        self.gpt = ScratchGPT(config.scratch())
        self.post_init()

    @property
    def base_model(self):
        """The body (embeddings, blocks, final norm) called as transformers calls a base model;
        see ScratchBody. The model itself while it is being built."""
        return ScratchBody(self.gpt) if "gpt" in self._modules else self

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, **ignored):
        """Recompute each block in the backward pass (the course model's own switch)."""
        self.gpt.checkpointing = True

    def activation_checkpointing_disable(self):
        self.gpt.checkpointing = False

    gradient_checkpointing_enable = activation_checkpointing_enable
    gradient_checkpointing_disable = activation_checkpointing_disable

    def get_input_embeddings(self):
        return self.gpt.tokens

    def set_input_embeddings(self, value):
        self.gpt.tokens = value

    def get_output_embeddings(self):
        return self.gpt.head

    def forward(self, input_ids: torch.Tensor, attention_mask=None, labels=None,
                output_hidden_states: bool = False, logits_to_keep: int = 0,
                **ignored) -> CausalLMOutputWithPast:  # fmt: skip
        """Logits of the last `logits_to_keep` positions (0: all; `generate` asks for 1, as it
        does of GPT-2, so the two differ by the cache alone); the loss against `labels` shifted
        by one (transformers' convention); hidden states (embeddings, each block's output, the
        final norm's) when asked. Cache arguments are ignored: nothing is cached."""
        hidden = body_states(self.gpt, input_ids, output_hidden_states)
        logits = self.gpt.head(hidden[-1][:, -logits_to_keep:])
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100
            )
        return CausalLMOutputWithPast(
            loss=loss, logits=logits, hidden_states=tuple(hidden) if output_hidden_states else None
        )


def body_states(gpt: ScratchGPT, input_ids: torch.Tensor, every_layer: bool) -> list[torch.Tensor]:
    """The final norm's output alone, or (every_layer) the embeddings, then each block's output,
    the last one through the final norm: GPT-2's `hidden_states` convention (layers + 1 tensors
    of (batch, tokens, width)). Only what is asked for is kept."""
    x = gpt.dropout(gpt.embed(input_ids))
    states = [x] if every_layer else []
    for block in gpt.blocks:
        x = gpt.run_block(block, x)
        if every_layer:
            states.append(x)
    return [*states[:-1], gpt.norm(x)]


class ScratchBody:
    """The from-scratch GPT without its head, answering a base-model call with
    `last_hidden_state` (and `hidden_states` when asked). Not a module of its own: it holds
    no weights, only a reference to the model's."""

    def __init__(self, gpt: ScratchGPT):
        self.gpt = gpt

    def named_children(self):
        """The body's modules by name (tokens, positions, dropout, blocks, norm)."""
        return ((name, child) for name, child in self.gpt.named_children() if name != "head")

    def __call__(self, input_ids, output_hidden_states: bool = False, **ignored):
        hidden = body_states(self.gpt, input_ids, output_hidden_states)
        return BaseModelOutput(
            last_hidden_state=hidden[-1],
            hidden_states=tuple(hidden) if output_hidden_states else None,
        )


AutoConfig.register(MODEL_TYPE, ScratchGPTConfig)
AutoModelForCausalLM.register(ScratchGPTConfig, ScratchGPTForCausalLM)
