"""Load time: a fresh process (cold), the running process (warm), and the tokenizer alone."""

from __future__ import annotations

import gc
import weakref

import pytest

from lmgauge.measure.timing import sample_seconds


@pytest.mark.slow
def test_cold_load(loaded_model, cold_loads, record, rounds):
    """`rounds` fresh processes (5 by default), each loading the model once."""
    runs = cold_loads(rounds)
    loads = [run.load_s for run in runs]
    record("cold_load_seconds", samples=loads)
    imports = [run.import_s for run in runs]
    record("cold_import_seconds", samples=imports)
    peaks = [run.peak_growth_bytes for run in runs]
    record("cold_load_peak_growth_bytes", max(peaks), samples=peaks)


def test_warm_load(loaded_model, rounds, record):
    """from_pretrained in the configuration's dtype and attention kernel plus the move to the
    device, `rounds` times after one untimed load: each sample is that load's own
    `load_seconds`, so reading the config and freeing the previous copy are not in it (and the
    tokenizer, timed by test_tokenizer_load, is not loaded). The configuration's quantization
    and compilation are timed once, by test_configuration_steps. As in timeit, Python's
    cyclic garbage collector is off during each load (a full collection of this process takes
    about 0.36 s on 2 cores, several times a load); the previous copy is freed by its last
    reference, and collected only when something (a reference cycle) still holds it."""
    from lmgauge.sources.loading import load_prepared

    spec, folder, gguf = loaded_model.spec, loaded_model.folder, loaded_model.gguf_file

    def load_once() -> float:
        enabled = gc.isenabled()
        gc.disable()
        try:
            again = load_prepared(spec, folder, gguf, loaded_model.device, loaded_model.dtype,
                                  loaded_model.config, with_tokenizer=False)  # fmt: skip
        finally:
            if enabled:
                gc.enable()
        seconds, copy = again.load_seconds, weakref.ref(again.model)
        del again
        if copy() is not None:  # still held (a reference cycle): free it before the next load
            gc.collect()
        return seconds

    load_once()
    record("warm_load_seconds", samples=[load_once() for _ in range(rounds)])


def test_tokenizer_load(loaded_model, rounds, record):
    if loaded_model.tokenizer is None:
        pytest.skip(f"{loaded_model.name} has no tokenizer ({loaded_model.spec.weights} weights)")
    from transformers import AutoTokenizer

    extra = {"gguf_file": loaded_model.gguf_file} if loaded_model.gguf_file else {}
    samples = sample_seconds(
        lambda: AutoTokenizer.from_pretrained(loaded_model.folder, **extra), rounds
    )
    record("tokenizer_load_seconds", samples=samples)


def test_configuration_steps(loaded_model, record):
    """What the configuration did after the load, once per session: quantize_seconds and
    compile_seconds (compiling includes the calls that built the graphs)."""
    if not loaded_model.transform_seconds:
        pytest.skip(f"configuration '{loaded_model.config.name}' neither quantizes nor compiles")
    for step, seconds in loaded_model.transform_seconds.items():
        record(f"{step}_seconds", seconds)
    assert all(seconds > 0 for seconds in loaded_model.transform_seconds.values())
