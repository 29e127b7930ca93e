"""The fixtures a bench records with: `record`, `record_text`, rounds, and the timing judge;
`record_generation`, the figures of timed generation rounds, shared by every runtime's bench."""

from __future__ import annotations

import statistics
from dataclasses import asdict

import pytest

from lmgauge.measure.noise import NoiseMonitor
from lmgauge.measure.rounds import RoundPolicy
from lmgauge.pytest_plugin.skips import skip_on_measurement
from lmgauge.pytest_plugin.state import (
    NOISE_MONITOR,
    bench_and_model,
    is_bench,
    run_state,
    swept_parameters,
)


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """`record(metric, value=None, samples=(), **params)`: add one figure to the run report.

    `value` defaults to the median of the rounds. Keyword arguments `rounds` (one value per
    timed round, when samples are not one per round), `probe_seconds` and `stopped` go to
    RunRecorder.record; every other keyword is a parameter of the figure.

    The bench is named after the module (bench_params.py -> "params") and the model after the
    test's `model_name` parameter; a --threads sweep adds `threads` to the parameters; unit
    and direction come from lmgauge.record.metrics.
    """
    recorder = run_state(request.config).recorder
    bench, model = bench_and_model(request.node)

    swept = swept_parameters(request.node)

    def add(metric: str, value=None, samples=(), **params):
        return recorder.record(
            bench, model, metric, value, test=request.node.nodeid, samples=samples,
            **params, **swept,
        )  # fmt: skip

    return add


@pytest.fixture
def record_text(request: pytest.FixtureRequest):
    """`record_text(table, text, **params)`: add a generated text to a table written beside the
    run report (`<report>.<table>.csv` and `.md`, models side by side)."""
    recorder = run_state(request.config).recorder
    bench, model = bench_and_model(request.node)

    swept = swept_parameters(request.node)

    def add(table: str, text: str, **params) -> None:
        recorder.add_text(bench, model, table, text, test=request.node.nodeid, **params, **swept)

    return add


@pytest.fixture(scope="session")
def rounds(request: pytest.FixtureRequest) -> int:
    """Fewest timed rounds per measurement (--rounds), after one untimed warmup call."""
    return run_state(request.config).round_policy.min_rounds


@pytest.fixture(scope="session")
def round_policy(request: pytest.FixtureRequest) -> RoundPolicy:
    """How many timed rounds a latency measurement takes (lmgauge.measure.rounds)."""
    return run_state(request.config).round_policy


@pytest.fixture
def judge_timing(request: pytest.FixtureRequest):
    """`judge_timing(ok, message)`: fail with `message` when a timing-based check is false,
    unless the machine was busy (during this bench or during calibration), in which case the
    check is skipped as not judgeable: a loaded machine proves nothing either way. With
    --timing-checks=record a false check only flags the bench's results `timing-check-failed`."""

    def judge(ok: bool, message: str) -> None:
        if ok:
            return
        state = run_state(request.config)
        if not state.judge_timing_checks:
            state.recorder.flag_test(request.node.nodeid, "timing-check-failed")
            return
        reading = request.node.stash[NOISE_MONITOR].stop()
        calibration = state.recorder.calibration or {}
        calibration_busy = calibration.get("noise", {}).get("busy", False)
        if reading.busy or calibration_busy:
            skip_on_measurement(
                request.node,
                f"not judged on a busy machine ({reading.foreign_cores:.2f} cores used by other "
                f"processes; calibration busy: {calibration_busy}): {message}"
            )
        pytest.fail(message, pytrace=False)

    return judge


@pytest.fixture(autouse=True)
def _watch_noise(request: pytest.FixtureRequest):
    """Around every bench: note load averages and other processes' CPU use; flag busy results."""
    if not is_bench(request.node):
        yield
        return
    recorder = run_state(request.config).recorder
    monitor = NoiseMonitor()
    monitor.start()
    request.node.stash[NOISE_MONITOR] = monitor
    yield
    reading = monitor.stop()
    recorder.noise_reading({"test": request.node.nodeid, **asdict(reading), "busy": reading.busy})
    if reading.busy:
        recorder.flag_test(request.node.nodeid, "busy")


def record_generation(record, measured, shape: dict, warmup_new_tokens: int):
    """Record every figure of the timed rounds of `generate`; return the TTFT and decode-step
    results (a decode step's round value is the median step of that round). The warmup call
    generated `warmup_new_tokens` tokens after the same prompt."""
    timed = measured.results
    per_round = {"probe_seconds": measured.probe_seconds, "stopped": measured.stopped}
    record("warmup_call_seconds", measured.warmup.end_to_end_s, **shape,
           warmup_new_tokens=warmup_new_tokens)  # fmt: skip
    ttft = record("ttft_seconds", samples=[t.prefill_s for t in timed], **per_round, **shape)
    step = record(
        "decode_step_seconds",
        samples=[step for timing in timed for step in timing.step_s],
        rounds=[statistics.median(timing.step_s) for timing in timed],
        **per_round,
        **shape,
    )
    record("end_to_end_seconds", samples=[t.end_to_end_s for t in timed], **per_round, **shape)
    for metric, attribute in (
        ("decode_tokens_per_second", "decode_tokens_per_s"),
        ("prefill_tokens_per_second", "prefill_tokens_per_s"),
    ):
        record(metric, samples=[getattr(t, attribute) for t in timed], **per_round, **shape)
    return ttft, step
