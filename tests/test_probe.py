"""The speed probe runs outside the code under test: numpy in a process of its own."""

import torch

from lmgauge.measure.probe import KIND, SpeedProbe


def test_the_probe_runs_numpy_in_its_own_process_with_its_own_threads():
    probe = SpeedProbe(threads=2)
    try:
        identity = probe.identity()
        assert identity["kind"] == KIND and identity["numpy"] and identity["threads"] == 2
        assert identity["torch_loaded"] is False, "the probe process must not import torch"
        assert probe._process.pid != torch.multiprocessing.current_process().pid
        first = probe.probe()
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            assert probe.identity()["threads"] == 2, "torch's thread count does not reach it"
            assert probe.probe() > 0 and first > 0
        finally:
            torch.set_num_threads(before)
    finally:
        process = probe._process
        probe.close()
    assert process.poll() is not None, "close() ends the probe process"


def test_the_probe_process_ends_when_its_reader_goes_away():
    probe = SpeedProbe()
    probe.probe()
    process = probe._process
    process.stdin.close()
    assert process.wait(timeout=10) == 0
