"""The state of one bench session: what the options resolved to, and its recorder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lmgauge.measure.noise import NoiseMonitor
from lmgauge.measure.rounds import RoundPolicy
from lmgauge.record.recording import RunRecorder
from lmgauge.sources import models


@dataclass
class RunState:
    """What the options resolved to, and the recorder of this session."""

    specs: dict[str, models.ModelSpec]
    device: object
    dtype: object
    threads: int
    thread_counts: list[int]
    sweeps: dict[str, list[int]]
    dataset: str
    round_policy: RoundPolicy
    report_dir: Path
    recorder: RunRecorder
    gate_base: tuple[str, dict] | None = None
    slowdown: float = 0.0
    judge_timing_checks: bool = True
    bench_items: int = 0
    report_path: Path | None = None
    gate_message: str | None = None
    recovered: list[Path] | None = None
    write_failure: str | None = None


RUN_STATE = pytest.StashKey[RunState]()
NOISE_MONITOR = pytest.StashKey[NoiseMonitor]()


def run_state(config: pytest.Config) -> RunState:
    return config.stash[RUN_STATE]


def is_bench(item: pytest.Item) -> bool:
    return item.path.name.startswith("bench_")


def swept_parameters(node: pytest.Item) -> dict:
    """Parameters that a sweep adds to every figure of this test: {"threads": N} when several
    --threads values are swept; {} otherwise."""
    callspec = getattr(node, "callspec", None)
    if callspec is None or "torch_threads" not in callspec.params:
        return {}
    return {"threads": callspec.params["torch_threads"]}


def bench_and_model(node: pytest.Item) -> tuple[str, str]:
    """The bench (bench_params.py -> "params") and the test's `model_name` parameter."""
    callspec = getattr(node, "callspec", None)
    model = callspec.params.get("model_name", "") if callspec else ""
    return node.path.stem.removeprefix("bench_"), model
