"""The machine fixture: device calibration, measured once per session and written to the report."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from lmgauge.measure.calibration import calibrate
from lmgauge.measure.noise import NoiseMonitor
from lmgauge.measure.probe import SpeedProbe
from lmgauge.pytest_plugin.state import run_state


@pytest.fixture(scope="session")
def calibration(request: pytest.FixtureRequest):
    """Memory bandwidth and matmul throughput of the run's device and dtype (a Calibration).

    Taken when the first bench needs it, and again at the end of the session; flagged `busy`
    when other processes used the CPU meanwhile, since every roofline bound of the run then
    rests on low roofs.
    """
    state = run_state(request.config)
    monitor = NoiseMonitor()
    monitor.start()
    measured = calibrate(state.device, state.dtype)
    noise = monitor.stop()
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
            "calibration", "", metric, max(samples), samples=samples, test="calibration"
        )
    if noise.busy:
        state.recorder.flag_test("calibration", "busy")
    request.addfinalizer(lambda: calibrate_again(state))
    return measured


def calibrate_again(state) -> None:
    """Measure the roofs once more at the end of the session, so that a report shows whether
    the machine's own speed moved while it ran (lmgauge.judge.drift.speed_drift)."""
    measured = calibrate(state.device, state.dtype)
    state.recorder.set_calibration(
        {
            "bandwidth_bytes_per_s": measured.bandwidth_bytes_per_s,
            "matmul_flops_per_s": measured.matmul_flops_per_s,
        },
        at_end=True,
    )


@pytest.fixture(scope="session")
def speed_probe(request: pytest.FixtureRequest) -> SpeedProbe:
    """The speed probe timed beside every timed round (lmgauge.measure.probe)."""
    return SpeedProbe(run_state(request.config).device)
