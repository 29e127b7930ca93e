"""Sentence features from a frozen model: one pass, two poolings, for classical baselines.

Encoders give the first token's final hidden state (`cls`, BERT's [CLS]) and the mean over
real tokens (`mean`). Causal LMs give the last real token's final hidden state (`last`) and
the mean. Padding is on the right and masked out, so every pooling sees only real tokens.
Sentences are batched in order of length (then put back in order), so a batch pads little.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from lmgauge.sources.models import CAUSAL_LM
from lmgauge.sources.prompts import padding


@dataclass(frozen=True)
class Features:
    """pooled: pooling name -> (sentences, hidden size) float32 array. seconds: wall time of the
    whole extraction; sentences_per_s: sentences / seconds."""

    pooled: dict
    seconds: float
    sentences: int

    @property
    def sentences_per_s(self) -> float:
        return self.sentences / self.seconds

    def rows(self, indices) -> Features:
        """The features of the sentences at `indices`, in that order; `seconds` is their share
        of the extraction's wall time."""
        indices = np.asarray(indices, dtype=int)
        share = len(indices) / self.sentences if self.sentences else 0.0
        pooled = {name: vectors[indices] for name, vectors in self.pooled.items()}
        return Features(pooled=pooled, seconds=self.seconds * share, sentences=len(indices))


def poolings(task: str) -> tuple[str, str]:
    return ("last", "mean") if task == CAUSAL_LM else ("cls", "mean")


def extract(
    loaded_model,
    texts: list[str],
    batch_size: int = 64,
    max_length: int = 128,
    description: str = "features",
    progress: bool = True,
) -> Features:
    """Features of `texts` from the loaded model's final hidden states (`progress`: a tqdm bar
    per call)."""
    import torch

    tokenizer, device = loaded_model.tokenizer, loaded_model.device
    base = loaded_model.model.base_model
    first, second = poolings(loaded_model.task)
    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    chunks = {first: [], second: []}
    started = time.perf_counter()
    with torch.inference_mode(), padding(tokenizer, "right"):
        for start in tqdm(range(0, len(texts), batch_size), desc=description, unit="batch",
                          disable=not progress):  # fmt: skip
            chunk = [texts[index] for index in order[start : start + batch_size]]
            batch = tokenizer(
                chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(device)
            hidden = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            chunks["mean"].append(((hidden * mask).sum(1) / mask.sum(1)).float().cpu())
            if first == "cls":
                chunks["cls"].append(hidden[:, 0].float().cpu())
            else:
                last = batch["attention_mask"].sum(1) - 1
                chunks["last"].append(hidden[torch.arange(hidden.shape[0]), last].float().cpu())
    seconds = time.perf_counter() - started
    restore = np.argsort(order)
    pooled = {
        name: torch.cat(parts).numpy().astype(np.float32)[restore] for name, parts in chunks.items()
    }
    return Features(pooled=pooled, seconds=seconds, sentences=len(texts))


def extract_splits(loaded_model, data, splits, label: str = "features") -> dict:
    """{split: Features} of the `text` column of each split of `data` (a DatasetDict)."""
    return {
        split: extract(loaded_model, data[split]["text"], description=f"{split} {label}")
        for split in splits
    }
