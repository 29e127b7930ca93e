"""Parameter anatomy of a torch model: counts by module and layer type, bytes by dtype.

All counts are numbers of scalar elements, with a tensor shared by two modules (tied input
and output embeddings) counted once, at the first module that owns it in `named_modules()`
order.
"""

from __future__ import annotations

from collections import Counter

from torch import nn

from lmgauge.compute import dtype_name


def owned_parameters(model: nn.Module):
    """Yield (module, parameter) once per unique parameter, at its first owning module."""
    seen: set[int] = set()
    for _, module in model.named_modules():
        for parameter in module.parameters(recurse=False):
            if id(parameter) not in seen:
                seen.add(id(parameter))
                yield module, parameter


def total_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def trainable_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def embedding_parameters(model: nn.Module) -> int:
    """Elements of every nn.Embedding table plus an output embedding not tied to one of them."""
    tables = {
        id(p): p.numel()
        for module, p in owned_parameters(model)
        if isinstance(module, nn.Embedding)
    }
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None:
        for parameter in output.parameters():
            tables.setdefault(id(parameter), parameter.numel())
    return sum(tables.values())


def non_embedding_parameters(model: nn.Module) -> int:
    return total_parameters(model) - embedding_parameters(model)


def output_head_parameters(model: nn.Module) -> int:
    """Elements of the output embedding (LM head) whether tied or not; 0 without one."""
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return sum(p.numel() for p in output.parameters()) if output is not None else 0


def matmul_parameters(model: nn.Module) -> int:
    """Parameters used in matrix multiplies per token: non-embedding plus the LM head.

    Norm weights and biases are included (they are few); embedding tables, which are only
    looked up, are not, but a tied LM head multiplies by the embedding and is counted.
    """
    return non_embedding_parameters(model) + output_head_parameters(model)


def parameters_by_module(model: nn.Module) -> dict[str, int]:
    """Elements under each top-level child of the base model; "(head)" holds the rest.

    Children without parameters (e.g. a rotary embedding) are left out.
    """
    base = getattr(model, "base_model", model)
    seen: set[int] = set()
    counts: dict[str, int] = {}
    for name, child in base.named_children():
        fresh = [p for p in child.parameters() if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        if fresh:
            counts[name] = sum(p.numel() for p in fresh)
    outside = sum(p.numel() for p in model.parameters() if id(p) not in seen)
    if outside:
        counts["(head)"] = outside
    return counts


def parameters_by_layer_type(model: nn.Module) -> dict[str, int]:
    """Elements owned by modules of each class name (Linear, Embedding, LayerNorm, ...)."""
    counts: Counter[str] = Counter()
    for module, parameter in owned_parameters(model):
        counts[type(module).__name__] += parameter.numel()
    return dict(counts)


def bytes_by_dtype(model: nn.Module) -> dict[str, int]:
    """Bytes of unique parameters and buffers (persistent or not) per dtype name."""
    counts: Counter[str] = Counter()
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    for tensor in tensors.values():
        counts[dtype_name(tensor.dtype)] += tensor.numel() * tensor.element_size()
    return dict(counts)
