"""llama.cpp configurations (`--configs llamacpp`): what only llama.cpp has, under the
transformers benches' metric names, so that the configuration table puts them side by side:
load time and resident memory of the memory-mapped GGUF file.

Everything else is measured by the benches every runtime shares (lmgauge.runtimes): generation
latency by bench_generate (each decode step against llama.cpp's own per-token counters there),
perplexity, known answers and greedy outputs by bench_quality, fidelity to the float32 eager
reference by bench_fidelity.
"""

from __future__ import annotations

import gc
import time

import pytest

from lmgauge.compute import resolve_device
from lmgauge.measure.memory import track_memory
from lmgauge.sources.llamacpp import open_llama

pytestmark = [pytest.mark.causal_lm, pytest.mark.runtime("llamacpp")]


def test_load_and_memory(loaded_model, record, rounds):
    """A fresh llama.cpp context on the same file, `rounds` times: load time, and the resident
    memory it adds once a prompt has touched every weight (llama.cpp memory-maps the file)."""
    cpu = resolve_device("cpu")
    loads, growth = [], []
    for _ in range(rounds):
        with track_memory(cpu) as tracker:
            started = time.perf_counter()
            llama = open_llama(loaded_model.path, loaded_model.threads, 512)
            loads.append(time.perf_counter() - started)
            llama.eval(loaded_model.tokenize("warm every weight"))
        growth.append(tracker.reading.rss_after_bytes - tracker.reading.rss_before_bytes)
        del llama
        gc.collect()
    record("warm_load_seconds", samples=loads)
    record("resident_weights_bytes", max(growth), samples=growth)
    assert min(growth) > 0.5 * loaded_model.path.stat().st_size, "the weights are not resident"
