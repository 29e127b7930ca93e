"""One training step, timed: forward, backward and an AdamW update on a fixed batch, under each
of the levers that trade time against memory or precision.

A setup is a copy of the loaded model (the session's model is never changed) trained for
`steps` steps on the same seeded batch of random token ids: causal LMs learn to predict its
next tokens; encoders minimise the mean square of their last hidden state, a stand-in objective
whose backward pass costs what any loss on top of the encoder costs. The first step is a
warmup, untimed; peak memory covers every step; the losses of all steps are kept so that two
setups started from the same weights can be compared.

The roofline of a step (`train_step_bound_s`): forward + backward cost about 6 FLOPs per matmul
parameter per token (2 forward, 4 backward), done at the matmul roof, then the optimizer reads
parameters, gradients and both moments and writes parameters and moments: 7 x 4 bytes per
trainable parameter at the bandwidth roof. The sum is a lower bound: the phases run one after
the other.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from lmgauge.compute import seeded
from lmgauge.measure.memory import track_memory
from lmgauge.measure.timing import synchronizer

LEARNING_RATE = 1e-4
OPTIMIZER_BYTES_PER_PARAMETER = 7 * 4


@dataclass(frozen=True)
class TrainSetup:
    """checkpointing: recompute activations in the backward pass (gradient checkpointing);
    autocast: a dtype name ("bfloat16", "float16") to run the forward under torch.autocast, or
    None; optimizer: AdamW's implementation, "foreach" (torch's default), "fused" or
    "for-loop"."""

    name: str
    checkpointing: bool = False
    autocast: str | None = None
    optimizer: str = "foreach"


@dataclass
class TrainRun:
    """step_s: seconds of each timed step; losses: the loss of every step, warmup first;
    peak_growth_bytes: how far memory rose above the model copy's own during the steps (host
    RSS, or CUDA allocated bytes on a GPU; the host figure moves by about 150 MB between
    identical runs); activation_bytes: bytes of the tensors autograd saved for the backward
    pass in one forward, parameters left out (exact, and what checkpointing cuts); tokens:
    tokens in one step's batch."""

    setup: TrainSetup
    tokens: int
    step_s: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    peak_growth_bytes: int = 0
    activation_bytes: int = 0


def training_batch(vocab: int, batch: int, length: int, device, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=generator).to(device)


def train_steps(model, ids, setup: TrainSetup, steps: int, causal: bool, device) -> TrainRun:
    """Train a copy of `model` on `ids` for 1 warmup + `steps` timed steps under `setup`. Under
    autocast the copy's weights are float32 whatever the model's dtype: mixed precision keeps
    float32 master weights (a float16 model's gradients cannot be unscaled by a GradScaler:
    "Attempting to unscale FP16 gradients")."""
    import torch

    sync = synchronizer(device)
    run = TrainRun(setup, tokens=ids.numel())
    trainee = copy.deepcopy(model).train()
    if setup.autocast:
        trainee = trainee.float()
    if setup.checkpointing:
        enable_checkpointing(trainee)
    optimizer = torch.optim.AdamW(trainee.parameters(), lr=LEARNING_RATE, **_implementation(setup))
    scaler = torch.amp.GradScaler(device.type) if setup.autocast == "float16" else None
    with seeded(0, device), track_memory(device) as tracker:
        for step in range(steps + 1):
            sync()
            started = time.perf_counter()
            with saved_for_backward(trainee) as saved:
                loss = _loss(trainee, ids, setup, causal, device)
            run.activation_bytes = saved.bytes
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sync()
            if step:
                run.step_s.append(time.perf_counter() - started)
            run.losses.append(float(loss.detach()))
    run.peak_growth_bytes = tracker.reading.device_peak_growth_bytes
    del trainee, optimizer
    return run


def enable_checkpointing(model) -> None:
    """Non-reentrant activation checkpointing of every layer, by transformers' current name for
    it (`activation_checkpointing_enable`, since 5.x) or its older one."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    enable = enable or model.gradient_checkpointing_enable
    enable({"use_reentrant": False})


class _Saved:
    bytes = 0


@contextmanager
def saved_for_backward(model):
    """`with saved_for_backward(model) as saved:` a forward; then `saved.bytes` holds the bytes
    of distinct storages autograd saved for the backward pass, the model's parameters left out."""
    import torch

    saved, sizes = _Saved(), {}
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(tensor):
        storage = tensor.untyped_storage()
        sizes[storage.data_ptr()] = max(sizes.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield saved
    saved.bytes = sum(size for pointer, size in sizes.items() if pointer not in parameters)


def _implementation(setup: TrainSetup) -> dict:
    choices = {
        "foreach": {"foreach": True},
        "fused": {"fused": True},
        "for-loop": {"foreach": False},
    }
    if setup.optimizer not in choices:
        raise ValueError(f"unknown AdamW implementation '{setup.optimizer}'; use {sorted(choices)}")
    return choices[setup.optimizer]


def _loss(model, ids, setup: TrainSetup, causal: bool, device):
    import torch

    dtype = getattr(torch, setup.autocast) if setup.autocast else None
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        if causal:
            return model(input_ids=ids, labels=ids, use_cache=False).loss.float()
        hidden = model(input_ids=ids).last_hidden_state
        return hidden.float().pow(2).mean()


def train_step_bound_s(cost, trainable: int, tokens: int, calibration) -> float:
    """Roofline lower bound (s) of one step over `tokens` tokens (module docstring)."""
    compute = 6 * cost.matmul_parameters * tokens / calibration.matmul_flops_per_s
    update = OPTIMIZER_BYTES_PER_PARAMETER * trainable / calibration.bandwidth_bytes_per_s
    return compute + update
