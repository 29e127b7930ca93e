"""The state of one bench session: what the options resolved to, and its recorder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lmgauge.judge.spread import Baseline
from lmgauge.measure.noise import NoiseMonitor
from lmgauge.measure.rounds import RoundPolicy
from lmgauge.record.recording import RunRecorder
from lmgauge.serve.figures import Slo
from lmgauge.sources import models
from lmgauge.sources.configs import RunConfig, subject_name


@dataclass(frozen=True)
class Subject:
    """A model under test: a model in one configuration."""

    spec: models.ModelSpec
    config: RunConfig

    @property
    def name(self) -> str:
        return subject_name(self.spec.name, self.config)


@dataclass(frozen=True)
class ServingOptions:
    """What the serving bench loads a server with: `endpoint` (a running server's URL, or
    None), `requests` per load run (None: the bench's default) and `slo`
    (lmgauge.serve.figures.Slo). The load levels are the --concurrency and --request-rate
    sweeps; `burstiness` shapes the open loop's arrivals (lmgauge.serve.load.arrival_times)."""

    endpoint: str | None = None
    requests: int | None = None
    slo: Slo = Slo()
    burstiness: float = 1.0

    def describe(self) -> dict:
        return {"endpoint": self.endpoint, "requests": self.requests,
                "slo": {"ttft_s": self.slo.ttft_s, "itl_s": self.slo.itl_s},
                "burstiness": self.burstiness}  # fmt: skip


@dataclass
class RunState:
    """What the options resolved to, and the recorder of this session. `subjects` maps each
    subject's name (`model` or `model@config`) to it, models outer, configurations inner."""

    subjects: dict[str, Subject]
    device: object
    dtype: object
    threads: int
    thread_counts: list[int]
    sweeps: dict[str, list[int]]
    dataset: str
    round_policy: RoundPolicy
    report_dir: Path
    recorder: RunRecorder
    gate_base: tuple[str, Baseline] | None = None
    slowdown: float = 0.0
    slowdown_models: tuple[str, ...] = ()
    """The models --inject-slowdown slows (empty: every model)."""
    judge_timing_checks: bool = True
    calibrate: bool = True
    """False with --no-calibration: the `calibration` fixture gives None and no roof is used."""
    bench_items: int = 0
    report_path: Path | None = None
    gate_message: str | None = None
    recovered: list[Path] | None = None
    unrecovered: list[str] = field(default_factory=list)
    write_failure: str | None = None
    store_url: str | None = None
    store_message: str | None = None
    serving: ServingOptions = ServingOptions()

    def slowdown_of(self, model: str) -> float:
        """The injected slowdown of `model` (a fraction; 0 when it is not slowed)."""
        return self.slowdown if not self.slowdown_models or model in self.slowdown_models else 0.0


RUN_STATE = pytest.StashKey[RunState]()
NOISE_MONITOR = pytest.StashKey[NoiseMonitor]()


def run_state(config: pytest.Config) -> RunState:
    return config.stash[RUN_STATE]


def is_bench(item: pytest.Item) -> bool:
    return item.path.name.startswith("bench_")


def swept_parameters(node: pytest.Item) -> dict:
    """Parameters that the run's axes add to every figure of this test: {"config": NAME} for a
    configuration other than the default, {"threads": N} when several --threads values are
    swept; {} otherwise."""
    callspec = getattr(node, "callspec", None)
    if callspec is None:
        return {}
    swept = {}
    subject = run_state(node.config).subjects.get(callspec.params.get("model_name"))
    if subject is not None and not subject.config.is_default:
        swept["config"] = subject.config.name
    if "torch_threads" in callspec.params:
        swept["threads"] = callspec.params["torch_threads"]
    return swept


def bench_and_model(node: pytest.Item) -> tuple[str, str]:
    """The bench (bench_params.py -> "params") and the model the test measures (its
    configuration, if any, is in swept_parameters)."""
    callspec = getattr(node, "callspec", None)
    subject = callspec.params.get("model_name", "") if callspec else ""
    known = run_state(node.config).subjects.get(subject)
    return node.path.stem.removeprefix("bench_"), known.spec.name if known else subject


NO_TEST_OPTIONS = {"collectonly": "--collect-only", "setupplan": "--setup-plan",
                   "setuponly": "--setup-only", "showfixtures": "--fixtures",
                   "show_fixtures_per_test": "--fixtures-per-test"}
"""pytest's options that run no test: their `config.option` names and how they are typed
(--setup-plan sets setuponly too, so it is named first)."""


def running_no_test(config: pytest.Config) -> str:
    """The pytest option given that runs no test (NO_TEST_OPTIONS), or "": such a session
    writes no report and cannot be gated."""
    return next((typed for name, typed in NO_TEST_OPTIONS.items()
                 if getattr(config.option, name, False)), "")  # fmt: skip
