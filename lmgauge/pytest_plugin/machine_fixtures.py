"""The machine fixtures: device calibration (once per session, or once per thread count of a
--threads sweep) written to the report, and the speed probe."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from lmgauge import compute
from lmgauge.measure.calibration import calibrate, remeasure_roofs
from lmgauge.measure.noise import SHORTEST_JUDGED_S, NoiseMonitor
from lmgauge.measure.probe import SpeedProbe
from lmgauge.pytest_plugin.state import run_state, swept_parameters


@pytest.fixture(scope="session")
def _calibrations(request: pytest.FixtureRequest):
    """{(thread count, dtype): Calibration} of this session; at its end the roofs of the
    report's `calibration` (the first one in the run's dtype) are measured once more, at its
    thread count (calibrate_again)."""
    calibrations: dict = {}
    yield calibrations
    state = run_state(request.config)
    run_dtype = compute.dtype_name(state.dtype)
    first = next(((k, c) for k, c in calibrations.items() if k[1] == run_dtype), None)
    if first:
        threads = torch.get_num_threads()
        compute.set_threads(first[0][0])
        calibrate_again(state, first[1])
        compute.set_threads(threads)


@pytest.fixture
def calibration(request: pytest.FixtureRequest, _calibrations: dict, torch_threads: int):
    """Memory bandwidth and matmul throughput of the run's device (a Calibration) at this
    bench's thread count, in the dtype the bench's model computes in: the roofs every
    roofline bound of the bench rests on (a bfloat16 GEMM can run at several times the
    float32 rate).

    Taken when the first bench needs it (once per thread count and dtype), and again at the
    end of the session; flagged `busy` when other processes used the CPU meanwhile, since
    every roofline bound of the run then rests on low roofs. None with --no-calibration: the
    bench then records no roofline figure.
    """
    state = run_state(request.config)
    if not state.calibrate:
        return None
    dtype = state.dtype
    if "loaded_model" in request.fixturenames:
        dtype = request.getfixturevalue("loaded_model").dtype
    key = (torch_threads, compute.dtype_name(dtype))
    if key not in _calibrations:
        swept = swept_parameters(request.node)
        swept.pop("config", None)
        if dtype != state.dtype:
            swept["dtype"] = key[1]
        first = dtype == state.dtype and not any(k[1] == key[1] for k in _calibrations)
        _calibrations[key] = calibrate_now(state, dtype, swept, first)
    return _calibrations[key]


def calibrate_now(state, dtype, swept: dict, first: bool):
    """Calibrate in `dtype`, record the roofs as results (with the sweep's parameters) and, for
    the first calibration in the run's dtype, as the report's `calibration` section."""
    monitor = NoiseMonitor()
    monitor.start()
    measured = calibrate(state.device, dtype)
    noise = monitor.stop(min_window_s=SHORTEST_JUDGED_S)
    if first:
        state.recorder.set_calibration(
            {**measured.to_dict(), "noise": {**asdict(noise), "busy": noise.busy}}
        )
    read_seconds = measured.read_samples_s[measured.bandwidth_kernel]
    bandwidth = [measured.read_bytes / seconds for seconds in read_seconds]
    mv = [measured.read_bytes / seconds for seconds in measured.mv_samples_s]
    m, k, n = measured.matmul_shape
    flops = [2 * m * k * n / seconds for seconds in measured.matmul_samples_s]
    roofs = (("memory_bandwidth", bandwidth), ("mv_bandwidth", mv), ("matmul_throughput", flops))
    for metric, samples in roofs:
        state.recorder.record(
            "calibration", "", metric, max(samples), samples=samples, test="calibration", **swept
        )
    if noise.busy:
        state.recorder.flag_test("calibration", "busy")
    return measured


def calibrate_again(state, first) -> None:
    """Measure the roofs once more at the end of the session, with the kernel and the matmul
    shape that set them in the session's first calibration (remeasure_roofs), so that a report
    shows whether the machine's own speed moved while it ran (lmgauge.judge.drift.speed_drift)."""
    state.recorder.set_calibration(remeasure_roofs(first, state.device, state.dtype), at_end=True)


@pytest.fixture(scope="session")
def speed_probe(request: pytest.FixtureRequest):
    """The speed probe timed beside every timed round (lmgauge.measure.probe): numpy in a
    process of its own, with the run's thread count; what it runs goes to `run.speed_probe`."""
    state = run_state(request.config)
    probe = SpeedProbe(threads=state.threads)
    state.recorder.set_speed_probe(probe.identity())
    yield probe
    probe.close()
