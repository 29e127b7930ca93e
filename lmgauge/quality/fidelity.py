"""Fidelity of a configuration to the reference (float32, eager attention, transformers): the
same token ids go through both, one text at a time (no padding), and their outputs are compared
position by position.

Causal LMs: top-1 agreement (the share of positions where both pick the same next token), the
largest absolute logit difference, and the extra loss (mean negative log-likelihood of the
text's own next tokens, configuration minus reference, in nats per token; 0.01 nats is about
1 % perplexity). Encoders: cosine similarity of the mean-pooled last hidden states.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

FIDELITY_SENTENCES = 24
FIDELITY_OFFSET = 100
"""The texts are held-out polarity test sentences FIDELITY_OFFSET .. +FIDELITY_SENTENCES (the
perplexity bench scores the first 100), about 600 positions for SmolLM2."""


@dataclass(frozen=True)
class Fidelity:
    """positions: next-token positions compared. top1_agreement: share of them with the same
    argmax (0..1). max_logit_difference: largest |logit - reference logit| over every position
    and vocabulary entry. nll_increase_nats: mean next-token NLL minus the reference's, nats per
    token (negative when the configuration happens to fit the texts better)."""

    positions: int
    top1_agreement: float
    max_logit_difference: float
    nll_increase_nats: float


@dataclass(frozen=True)
class EncoderFidelity:
    """texts: sentences compared; min_cosine and mean_cosine: cosine similarity of each
    sentence's mean-pooled last hidden state with the reference's (1.0 is identical)."""

    texts: int
    min_cosine: float
    mean_cosine: float


def fidelity_texts(polarity) -> list[str]:
    return list(polarity["test"]["text"][FIDELITY_OFFSET : FIDELITY_OFFSET + FIDELITY_SENTENCES])


def token_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Each text's token ids as the tokenizer makes them by default (BOS when it adds one)."""
    return [tokenizer(text)["input_ids"] for text in texts]


def causal_logits(model, ids: list[list[int]], device, batch_size: int = 1) -> Iterator:
    """Float32 CPU logits (tokens x vocab) of each id list, in order: `batch_size` lists at a
    time in one forward pass, right-padded and masked (1: one pass per text, no padding; pass
    longer batches ids sorted by length, so that little is padded)."""
    import torch

    for start in range(0, len(ids), batch_size):
        rows = ids[start : start + batch_size]
        tensor = torch.zeros((len(rows), max(len(row) for row in rows)), dtype=torch.long)
        mask = torch.zeros_like(tensor)
        for index, row in enumerate(rows):
            tensor[index, : len(row)] = torch.tensor(row)
            mask[index, : len(row)] = 1
        with torch.inference_mode():
            output = model(input_ids=tensor.to(device), attention_mask=mask.to(device)).logits
        for index, row in enumerate(rows):
            yield output[index, : len(row)].float().cpu()


REFERENCE_BATCH = 8
"""Texts per forward pass of the reference and its controls: on a 2-core CPU, SmolLM2's 24
texts took 2.2-2.7 s in batches of 8 against 4.5-4.7 s one at a time."""


def in_order_of_length(model, ids: list[list[int]], device, batch_size: int) -> list:
    """causal_logits of `ids` computed `batch_size` texts at a time in order of length (so that
    little is padded), returned in the order of `ids`."""
    order = sorted(range(len(ids)), key=lambda index: len(ids[index]))
    computed = causal_logits(model, [ids[index] for index in order], device, batch_size)
    outputs: list = [None] * len(ids)
    for index, logits in zip(order, computed, strict=True):
        outputs[index] = logits
    return outputs


def pooled_states(model, ids: list[list[int]], device) -> list:
    """Float32 CPU mean of the last hidden state over each text's tokens."""
    import torch

    outputs = []
    with torch.inference_mode():
        for row in ids:
            tensor = torch.tensor([row], device=device)
            hidden = model(input_ids=tensor, attention_mask=torch.ones_like(tensor))[0]
            outputs.append(hidden[0].float().mean(dim=0).cpu())
    return outputs


def compare_logits(reference: list, measured: list, ids: list[list[int]]) -> Fidelity:
    """Fidelity of `measured` logits to `reference` logits over the same `ids` (see Fidelity)."""
    import torch

    agree = positions = 0
    largest = nll_reference = nll_measured = 0.0
    for ref, got, row in zip(reference, measured, ids, strict=True):
        agree += int((ref.argmax(-1) == got.argmax(-1)).sum())
        positions += ref.shape[0]
        largest = max(largest, float((ref - got).abs().max()))
        targets = torch.tensor(row[1:])
        nll_reference += next_token_nll(ref, targets)
        nll_measured += next_token_nll(got, targets)
    scored = sum(len(row) - 1 for row in ids)
    return Fidelity(
        positions=positions,
        top1_agreement=agree / positions,
        max_logit_difference=largest,
        nll_increase_nats=(nll_measured - nll_reference) / scored,
    )


def next_token_nll(logits, targets) -> float:
    """Summed NLL (nats) of `targets` (the text's tokens from the second on) under `logits`."""
    import torch

    log_probs = torch.log_softmax(logits[:-1].double(), dim=-1)
    return float(-log_probs.gather(1, targets.unsqueeze(1)).sum())


def compare_pooled(reference: list, measured: list) -> EncoderFidelity:
    import torch

    cosines = [
        float(torch.nn.functional.cosine_similarity(ref, got, dim=0))
        for ref, got in zip(reference, measured, strict=True)
    ]
    return EncoderFidelity(
        texts=len(cosines), min_cosine=min(cosines), mean_cosine=sum(cosines) / len(cosines)
    )


CAUSAL_FIGURES = {
    # metric: (Fidelity attribute, the direction that is better, the control that must fail it)
    "top1_agreement": ("top1_agreement", "higher", "naive-int8"),
    "nll_increase_nats": ("nll_increase_nats", "lower", "naive-int4"),
    "max_logit_difference": ("max_logit_difference", "lower", "naive-int4"),
}
ENCODER_FIGURES = {"embedding_min_cosine": ("min_cosine", "higher", "naive-int8")}
CONTROL_BITS = {"naive-int8": 8, "naive-int4": 4}
"""The broken controls: the reference with every weight matrix, embeddings and head included,
rounded to this many bits with one scale per whole tensor."""
CONTROL_TEXTS = 8
"""The controls run on the first 8 fidelity texts (about 200 positions for SmolLM2): a control
must only land clearly outside its threshold. Over all 24 texts the nearest (naive-int8's top-1
agreement, 0.691 against a minimum of 0.90) was 0.21 away, while the binomial standard error of
an agreement near 0.7 over 200 positions is 0.03. A largest logit difference or a smallest
cosine over fewer texts can only come out nearer passing (measured: naive-int4 61.2 logits
against a maximum of 40, naive-int8 0.930 cosine against a minimum of 0.99, the same as over 24
texts); a control that passes fails its bench, saying so: never a silent pass."""


def judge_fidelity(measured, controls: dict, figures: dict, guard, record, record_judged):
    """Record each figure of `measured` with its verdict and its control's value beside it;
    return what is wrong: figures outside their thresholds, and thresholds a control passes.

    controls: {control name: its Fidelity}; guard(metric): the Threshold of that figure or
    None; record and record_judged: the benches' fixtures of those names."""
    from lmgauge.quality.controls import control_escapes

    wrong = []
    for metric, (attribute, direction, control) in figures.items():
        value, broken = getattr(measured, attribute), getattr(controls[control], attribute)
        if failure := record_judged(metric, value):
            wrong.append(failure)
        record(f"control_{metric}", broken, control=control, texts=CONTROL_TEXTS)
        if escape := control_escapes(guard(metric), broken, value, direction):
            wrong.append(f"{control} control: {escape} (rounding random or tiny weights may "
                         "change nothing: such a model cannot show its fidelity thresholds work)")
    return wrong
