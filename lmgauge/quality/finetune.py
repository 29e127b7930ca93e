"""Fine-tuning an encoder for sentence classification: all weights, or LoRA adapters (PEFT).

A plain AdamW loop over the training split (seeded shuffling, fixed epochs and batch size),
then accuracy on validation and test. LoRA targets the attention query and value projections:
PEFT's own per-architecture map first (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING:
BERT's `query`/`value`, DeBERTa-v2's `query_proj`/`value_proj`, Llama's `q_proj`/`v_proj`),
then names in the architecture (DistilBERT's `q_lin`/`v_lin`, Funnel's `q_head`/`v_head`);
the result says which modules were chosen and how.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from lmgauge.compute import seeded
from lmgauge.measure.memory import track_memory
from lmgauge.measure.timing import Stopwatch, synchronizer
from lmgauge.quality.baselines import scores

QUERY = re.compile(r"^(query|q|q_proj|q_lin|query_proj|q_head)$")
VALUE = re.compile(r"^(value|v|v_proj|v_lin|value_proj|v_head)$")


@dataclass(frozen=True)
class FineTuneSettings:
    """The fixed budget: epochs, batch size, max tokens, learning rate, LoRA shape, seed."""

    method: str
    epochs: int = 2
    batch_size: int = 32
    max_length: int = 128
    learning_rate: float = 5e-5
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class FineTuneResult:
    """trainable/total: parameter counts; train_s: wall time of the training loop (s);
    peak_growth_bytes: peak memory growth during training (CUDA allocated bytes on a GPU,
    resident memory on the host); scores: split -> scores;
    step_s: seconds of each optimizer step (forward, backward, update); step_tokens: tokens
    (padding included: what the step computed on) in each step's batch."""

    settings: FineTuneSettings
    trainable: int
    total: int
    train_s: float
    peak_growth_bytes: int
    scores: dict = field(default_factory=dict)
    step_s: list[float] = field(default_factory=list)
    step_tokens: list[int] = field(default_factory=list)
    lora_targets: list[str] = field(default_factory=list)
    """LoRA: the module names adapted, and in `lora_targets_source` how they were found."""
    lora_targets_source: str = ""


def attention_projections(model) -> tuple[list[str], str]:
    """(names, how they were found): the Linear query and value projections of `model` that
    LoRA adapts. PEFT's per-architecture map first, when every name it gives is a Linear of
    the model; else last name components matching QUERY and VALUE; ValueError naming the
    Linear layers when neither finds a separate query and value."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS
    from torch import nn

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
    }
    model_type = getattr(model.config, "model_type", "")
    mapped = list(PEFT_TARGETS.get(model_type, []))
    if len(mapped) >= 2 and set(mapped) <= names:
        return mapped, f"PEFT's target map for '{model_type}'"
    found = sorted(n for n in names if QUERY.match(n)) + sorted(n for n in names if VALUE.match(n))
    if len(found) < 2:
        raise ValueError(f"no separate query/value projections among {sorted(names)}")
    return found, "query/value projections found by name"


def fine_tune(folder, data, settings: FineTuneSettings, device) -> FineTuneResult:
    """Fine-tune the model in `folder` on data["train"], score it on validation and test.

    Seeded with settings.seed (torch's generators are restored afterwards); train_s is read
    after the device finished the last step (synchronised on CUDA)."""
    from transformers import AutoTokenizer

    with seeded(settings.seed, device):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model, targets, source = classifier_model(folder, settings)
        model = model.to(device)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())

        def batches(split: str, shuffle: bool, generator=None):
            return encoded_batches(tokenizer, data[split], settings, device, shuffle, generator)

        with track_memory(device) as tracker, Stopwatch(device) as watch:
            steps = train(model, batches, data["train"].num_rows, settings, device)
        results = evaluate(model, batches)
    return FineTuneResult(
        settings, trainable, total, watch.seconds, tracker.reading.device_peak_growth_bytes,
        results,
        step_s=[seconds for seconds, _ in steps], step_tokens=[tokens for _, tokens in steps],
        lora_targets=targets, lora_targets_source=source,
    )  # fmt: skip


def classifier_model(folder, settings: FineTuneSettings) -> tuple[object, list[str], str]:
    """(model, LoRA target names, how they were found): a two-label sequence classifier from
    `folder`; with LoRA adapters on the attention query and value projections when
    settings.method is "lora" (everything else frozen; no targets for full fine-tuning)."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    if settings.method == "full":
        return model, [], ""
    if settings.method != "lora":
        raise ValueError(f"unknown method '{settings.method}'; use lora or full")
    from peft import LoraConfig, get_peft_model

    targets, source = attention_projections(model)
    adapted = get_peft_model(
        model,
        LoraConfig(
            task_type="SEQ_CLS",
            r=settings.lora_rank,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=targets,
        ),
    )
    return adapted, targets, source


def encoded_batches(tokenizer, rows, settings: FineTuneSettings, device, shuffle, generator):
    """(encoded inputs, labels) batches of `rows` on `device`, shuffled by `generator`."""
    import torch

    texts, labels = list(rows["text"]), np.asarray(rows["label"])
    order = generator.permutation(len(texts)) if shuffle else np.arange(len(texts))
    for start in range(0, len(texts), settings.batch_size):
        chosen = order[start : start + settings.batch_size]
        encoded = tokenizer(
            [texts[i] for i in chosen],
            padding=True,
            truncation=True,
            max_length=settings.max_length,
            return_tensors="pt",
        ).to(device)
        yield encoded, torch.as_tensor(labels[chosen], device=device)


def train(model, batches, rows: int, settings: FineTuneSettings, device) -> list[tuple[float, int]]:
    """settings.epochs epochs of AdamW over the training batches, shuffled by a seeded generator;
    (seconds, tokens) of every step."""
    import torch

    sync, steps_taken = synchronizer(device), []
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    generator = np.random.default_rng(settings.seed)
    steps = settings.epochs * -(-rows // settings.batch_size)
    model.train()
    with tqdm(total=steps, desc=f"{settings.method} fine-tuning", unit="step") as progress:
        for _ in range(settings.epochs):
            for encoded, labels in batches("train", True, generator):
                sync()
                started = time.perf_counter()
                model(**encoded, labels=labels).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                sync()
                steps_taken.append((time.perf_counter() - started, encoded["input_ids"].numel()))
                progress.update()
    return steps_taken


def evaluate(model, batches) -> dict:
    """Scores (lmgauge.quality.baselines.scores) of the model on validation and test."""
    import torch

    model.eval()
    results = {}
    with torch.inference_mode():
        for split in ("validation", "test"):
            predicted, truth = [], []
            for encoded, labels in batches(split, False):
                predicted += model(**encoded).logits.argmax(-1).tolist()
                truth += labels.tolist()
            results[split] = scores(truth, predicted)
    return results
