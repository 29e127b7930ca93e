"""Roofline bounds, the KV-cache formula against a real cache, prompts of exact length."""

import time

import pytest
import torch

from lmgauge.measure.calibration import calibrate
from lmgauge.measure.memory import cache_bytes
from lmgauge.model import anatomy
from lmgauge.model.roofline import (
    ModelCost,
    decode_step_bound_s,
    forward_bound_s,
    kv_bytes_per_token,
    model_cost,
)
from lmgauge.sources import prompts


class Roofs:
    bandwidth_bytes_per_s = 1e9
    matmul_flops_per_s = 1e10


def test_decode_is_memory_bound_and_prefill_compute_bound():
    cost = ModelCost(
        body_parameters=80_000_000,
        head_parameters=20_000_000,
        weight_bytes=400_000_000,
        kv_bytes_per_token=1000,
    )
    assert decode_step_bound_s(cost, 1, 1000, Roofs) == pytest.approx((4e8 + 1e6) / 1e9)
    assert decode_step_bound_s(cost, 1000, 0, Roofs) == pytest.approx(2e8 * 1000 / 1e10)
    prefill_flops = 2 * (8e7 * 512 + 2e7)
    assert forward_bound_s(cost, 1, 512, Roofs) == pytest.approx(prefill_flops / 1e10)
    assert forward_bound_s(cost, 1, 1, Roofs) == pytest.approx(0.4)


def test_kv_formula_matches_the_cache_a_model_builds(tiny_gpt2_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).eval()
    ids = torch.arange(10).unsqueeze(0)
    with torch.inference_mode():
        cache = model(input_ids=ids, use_cache=True).past_key_values
    assert cache_bytes(cache) == 10 * kv_bytes_per_token(model.config, 4) == 10 * 2 * 2 * 32 * 4


def test_grouped_query_attention_uses_kv_heads():
    from transformers import LlamaConfig

    config = LlamaConfig(
        num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576
    )
    assert kv_bytes_per_token(config, 4) == 2 * 30 * 3 * 64 * 4


def test_model_cost_counts_the_tied_head(tiny_gpt2_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    cost = model_cost(model, torch.float32, causal=True)
    head = model.lm_head.weight.numel()
    assert cost.head_parameters == head
    assert cost.body_parameters == anatomy.non_embedding_parameters(model)
    assert cost.weight_bytes == 4 * cost.matmul_parameters


def matmul_times(fastest: int) -> list[list[float]]:
    """Scripted seconds for each prefill shape: 2 GFLOP/s, and 20 GFLOP/s for shape `fastest`."""
    from lmgauge.measure.calibration import PREFILL_SHAPES

    return [[m * k * n * (1e-10 if i == fastest else 1e-9)]
            for i, (m, k, n) in enumerate(PREFILL_SHAPES)]  # fmt: skip


def test_calibration_takes_the_best_read_kernel_and_the_best_prefill_shape(monkeypatch):
    """Scripted kernel times: amax beats sum, the second prefill shape is the fastest."""
    from lmgauge.measure import calibration

    script = iter([[0.02, 0.03], [0.01, 0.04], [0.05, 0.06], *matmul_times(fastest=1)])
    monkeypatch.setattr(calibration, "kernel_seconds", lambda *a, **k: next(script))
    measured = calibrate(torch.device("cpu"), torch.float32, rounds=2, read_mib=8)
    assert measured.bandwidth_kernel == "amax"
    assert measured.bandwidth_bytes_per_s == pytest.approx(8 * 2**20 / 0.01)
    assert measured.mv_bandwidth_bytes_per_s == pytest.approx(8 * 2**20 / 0.05)
    m, k, n = calibration.PREFILL_SHAPES[1]
    assert measured.matmul_shape == (m, k, n)
    assert measured.matmul_flops_per_s == pytest.approx(2e10)


def test_the_end_of_session_check_remeasures_only_the_kernel_and_shape_that_set_each_roof(
    monkeypatch,
):
    """The drift check compares like with like: the read kernel and the prefill shape that won
    the first calibration, timed once more with as many rounds, and nothing else."""
    from lmgauge.measure import calibration

    script = iter([[0.02, 0.03], [0.01, 0.04], [0.05, 0.06], *matmul_times(fastest=1)])
    monkeypatch.setattr(calibration, "kernel_seconds", lambda *a, **k: next(script))
    first = calibrate(torch.device("cpu"), torch.float32, rounds=2, read_mib=8)
    kernels, shapes, rounds = [], [], []
    real_read_kernel = calibration._read_kernel

    def read_kernel(name, data):
        kernels.append(name)
        return real_read_kernel(name, data)

    def matmul_seconds(m, k, n, device, dtype, count, budget_s):
        shapes.append((m, k, n))
        rounds.append(count)
        return [1e-9 * m * k * n]

    def scripted(function, count, device, budget_s=None):
        rounds.append(count)
        return [0.02, 0.025]

    monkeypatch.setattr(calibration, "_read_kernel", read_kernel)
    monkeypatch.setattr(calibration, "_matmul_seconds", matmul_seconds)
    monkeypatch.setattr(calibration, "kernel_seconds", scripted)
    again = calibration.remeasure_roofs(first, torch.device("cpu"), torch.float32)
    assert kernels == ["amax"] and shapes == [first.matmul_shape], "one kernel, one shape"
    assert rounds == [2, 1], "as many rounds as the first calibration took of each"
    assert again["bandwidth_kernel"] == "amax" and again["matmul_shape"] == [*first.matmul_shape]
    assert again["bandwidth_bytes_per_s"] == pytest.approx(first.bandwidth_bytes_per_s / 2)
    assert again["matmul_flops_per_s"] == pytest.approx(2e9)


def test_the_memory_roof_is_never_below_mv_and_reads_beyond_the_last_level_cache(
    monkeypatch, tmp_path
):
    """mv faster than sum and amax (a 256 MiB tensor partly in a 300 MiB L3) makes mv the roof;
    the working set is four times the largest cache, read from sysfs."""
    from lmgauge.measure import calibration
    from lmgauge.measure.environment import cpu_caches

    script = iter([[0.02, 0.03], [0.03, 0.04], [0.01, 0.06], *matmul_times(fastest=1)])
    monkeypatch.setattr(calibration, "kernel_seconds", lambda *a, **k: next(script))
    measured = calibrate(torch.device("cpu"), torch.float32, rounds=2, read_mib=8)
    assert measured.bandwidth_kernel == "mv"
    assert measured.bandwidth_bytes_per_s == measured.mv_bandwidth_bytes_per_s
    for index, (level, kind, size) in enumerate(
        [("1", "Data", "48K"), ("1", "Instruction", "32K"), ("2", "Unified", "2048K"),
         ("3", "Unified", "300M")]
    ):  # fmt: skip
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, text in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(text + "\n")
    caches = cpu_caches(tmp_path)
    assert caches == {"L1d": 48 * 1024, "L2": 2 * 2**20, "L3": 300 * 2**20}
    assert calibration.read_working_set_mib(torch.device("cpu"), caches) == 1200
    assert calibration.read_working_set_mib(torch.device("cpu"), {"L3": 32 * 2**20}) == 256


def test_prompts_have_exact_lengths_and_left_padding(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    assert prompts.prompt_ids(tokenizer, 37, 64, batch=3).shape == (3, 37)
    assert prompts.prompt_ids(None, 5, 10).max() < 10
    ids, mask = prompts.ragged_batch(None, [2, 4], 50, pad_token_id=0)
    assert mask.tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    assert ids[0, :2].tolist() == [0, 0]


def test_pad_token_falls_back_to_eos(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    tokenizer.pad_token = None
    assert prompts.pad_token_id(tokenizer, None) == tokenizer.eos_token_id
    assert tokenizer.pad_token is None, "the shared tokenizer is left as it was"


def test_a_dtype_slow_on_this_device_spends_the_matmul_budget_on_the_first_shape(monkeypatch):
    """bfloat16 emulated on a CPU without native instructions: at the first prefill shape's
    FLOP/s no other shape's rounds fit in the budget, so none is measured (and that is said)."""
    from lmgauge.measure import calibration

    script = iter([[0.02, 0.03], [0.01, 0.04], [0.05, 0.06], [5.0, 4.9]])
    monkeypatch.setattr(calibration, "kernel_seconds", lambda *a, **k: next(script))
    measured = calibrate(torch.device("cpu"), torch.bfloat16, rounds=7, read_mib=8)
    assert measured.matmul_shapes_measured == [calibration.PREFILL_SHAPES[0]]
    assert measured.matmul_samples_s == [5.0, 4.9]


def test_timed_rounds_stop_once_their_budget_is_spent_but_never_below_two():
    from lmgauge.measure.timing import sample_seconds

    calls = []
    samples = sample_seconds(lambda: calls.append(time.sleep(0.02)), 10, budget_s=0.05)
    assert 2 < len(samples) < 10 and len(calls) == len(samples)
    assert len(sample_seconds(lambda: time.sleep(0.03), 10, budget_s=0.0)) == 2
    assert len(sample_seconds(lambda: None, 5)) == 5
