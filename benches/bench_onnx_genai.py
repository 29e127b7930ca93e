"""ONNX Runtime GenAI configurations (`--configs onnx-genai`): what only that runtime has, under
the transformers benches' metric names, so that the configuration table puts them side by side:
the export by its model builder, load time and resident memory.

Everything else is measured by the benches every runtime shares (lmgauge.runtimes): generation
latency by bench_generate, perplexity, known answers and greedy outputs by bench_quality,
fidelity to the float32 eager reference by bench_fidelity.
"""

from __future__ import annotations

import gc
import time

import pytest

from lmgauge.compute import resolve_device
from lmgauge.measure.memory import track_memory
from lmgauge.measure.onnx_genai_timing import timed_genai_generate
from lmgauge.sources.onnx_genai import open_genai

pytestmark = [pytest.mark.causal_lm, pytest.mark.runtime("onnx-genai")]


def test_export_load_and_memory(loaded_model, record, rounds):
    """The export's wall time when this run made it, then the exported model opened afresh
    `rounds` times: load time, and the resident memory it adds once a prompt has run."""
    if loaded_model.export_seconds is not None:
        record("onnx_export_seconds", loaded_model.export_seconds)
    weights = sum(path.stat().st_size for path in loaded_model.folder.glob("*.onnx*"))
    cpu = resolve_device("cpu")
    loads, growth = [], []
    for _ in range(rounds):
        with track_memory(cpu) as tracker:
            started = time.perf_counter()
            model = open_genai(loaded_model.folder, loaded_model.threads)
            loads.append(time.perf_counter() - started)
            timed_genai_generate(model, [1, 2, 3, 4], 2)
        growth.append(tracker.reading.rss_after_bytes - tracker.reading.rss_before_bytes)
        del model
        gc.collect()
    record("warm_load_seconds", samples=loads)
    record("resident_weights_bytes", max(growth), samples=growth)
    assert min(growth) > 0.5 * weights, "the weights are not resident"
