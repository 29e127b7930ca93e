"""Run reports made in memory for the compare and gate tests: real documents from RunRecorder."""

from __future__ import annotations

import copy

import numpy as np

from lmgauge.record.recording import RunRecorder
from lmgauge.record.report import validate

ENVIRONMENT = {
    "cpu_model": "AMD EPYC",
    "cpu_cores_physical": 2,
    "cpu_cores_logical": 2,
    "gpu": None,
    "python": "3.11.7",
    "os": "Linux",
    "libraries": {"torch": "2.13.0+cpu", "transformers": "5.23.0"},
}
GENERATION = {"batch": 1, "prompt_tokens": 128, "new_tokens": 32}


def make_report(
    seed: int,
    slowdown: float = 1.0,
    parameters: int = 124_439_808,
    accuracy: float = 0.745,
    threads: int = 2,
    environment: dict | None = None,
    matmul: float = 1.4e11,
    busy: bool = False,
    machine: float = 1.0,
    memory: float = 1.0,
    rounds: int = 5,
) -> dict:
    """A two-model report (gpt2-medium has `parameters` + 230,383,360): decode steps (5 rounds
    of 31 steps), TTFT (5 rounds) with a speed
    probe beside each round, a parameter count, a memory peak and an accuracy. Noise: the whole
    run drifts by about 2 % and each round by about 3 %; `machine` slows the machine (times and
    probes alike), `slowdown` the code (times only), `memory` the memory peak."""
    rng = np.random.default_rng(seed)
    recorder = RunRecorder({"models": ["gpt2", "gpt2-medium"], "device": "cpu",
                            "dtype": "float32", "threads": threads, "dataset": "d",
                            "rounds": rounds})  # fmt: skip
    recorder.set_speed_probe({"kind": "numpy in its own process", "numpy": "2.4.6",
                              "blas": ["openblas"], "torch_loaded": False, "threads": threads})
    run = machine * np.exp(rng.normal(0, 0.02))
    for model, step, larger in (("gpt2", 0.055, 0), ("gpt2-medium", 0.118, 230_383_360)):
        recorder.model_loaded(model, {"name": model, "weights": "synthetic"})
        levels = run * slowdown * np.exp(rng.normal(0, 0.03, rounds))
        steps = [rng.normal(step * level, step * 0.05, 31) for level in levels]
        probes = list(0.004 * machine * np.exp(rng.normal(0, 0.01, rounds)))
        recorder.record("generate", model, "decode_step_seconds",
                        samples=np.concatenate(steps), rounds=[np.median(s) for s in steps],
                        probe_seconds=probes, test=model, **GENERATION)  # fmt: skip
        recorder.record("generate", model, "ttft_seconds", samples=0.3 * levels,
                        probe_seconds=probes, test=model, **GENERATION)  # fmt: skip
        recorder.record("params", model, "parameters_total", parameters + larger, test=model)
        recorder.record("memory", model, "forward_peak_bytes", 6e7 * memory * rng.normal(1, 0.01),
                        test=model, batch=1, seq_len=128)  # fmt: skip
        if busy:
            recorder.flag_test(model, "busy")
    recorder.record("accuracy", "gpt2", "baseline_accuracy", accuracy, test="a", split="test")
    recorder.set_calibration({"matmul_flops_per_s": matmul, "bandwidth_bytes_per_s": 2e10})
    document = recorder.document(
        environment=copy.deepcopy(environment or ENVIRONMENT), status="passed", exit_status=0,
        extra_run={},
    )
    return validate(document)


def recounted(document: dict) -> dict:
    """`document` with `tests.counts` counted again from the tests it lists (as lmgauge writes
    them), and a passed run that now lists a failure made failed, after a test edited
    `tests.not_passed` or `tests.passed`: a report whose status, counts and lists disagree is
    refused when read (lmgauge.record.outcomes)."""
    from collections import Counter

    tests = document["tests"]
    counts = Counter(item["outcome"] for item in tests.get("not_passed", []))
    counts["passed"] = len(set(tests.get("passed", []))) if "passed" in tests else \
        tests.get("counts", {}).get("passed", 0)
    tests["counts"] = {outcome: count for outcome, count in counts.items() if count}
    if document["run"].get("status") == "passed" and (counts["failed"] or counts["error"]):
        document["run"].update(status="failed", exit_status=1)  # as pytest would exit
    return document
