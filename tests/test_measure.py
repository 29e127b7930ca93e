"""Trackers and summaries, checked with fakes: no sleeps, no timing assertions."""

import pytest
import torch

from lmgauge.measure import generation, memory, noise
from lmgauge.record import stats


def test_summarize_known_samples():
    summary = stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert summary["median"] == 3.0 and summary["q1"] == 2.0 and summary["q3"] == 4.0
    assert summary["iqr"] == 2.0 and summary["min"] == 1.0 and summary["max"] == 5.0
    assert summary["stdev"] == pytest.approx(1.5811, abs=1e-4)
    assert summary["cv"] == pytest.approx(1.5811 / 3, abs=1e-4)
    assert stats.summarize([7.0])["stdev"] == 0.0
    with pytest.raises(ValueError):
        stats.summarize([])


class FakeClock:
    """perf_counter replacement returning scripted times."""

    def __init__(self, times):
        self.times = iter(times)

    def __call__(self):
        return next(self.times)


class FakeModel:
    """Calls the logits processors once per new token, like generate does."""

    def generate(self, input_ids, logits_processor, max_new_tokens, **_):
        for _ in range(max_new_tokens):
            logits_processor[0](input_ids, None)
        extra = torch.zeros((input_ids.shape[0], max_new_tokens), dtype=input_ids.dtype)
        return torch.cat([input_ids, extra], dim=1)


def test_timed_generate_splits_prefill_and_steps(monkeypatch):
    clock = FakeClock([10.0, 10.5, 10.6, 10.8, 11.1, 11.2])
    monkeypatch.setattr(generation.time, "perf_counter", clock)
    ids = torch.zeros((2, 8), dtype=torch.long)
    timing, output = generation.timed_generate(FakeModel(), ids, torch.ones_like(ids), 4)
    assert output.shape == (2, 12)
    assert timing.prefill_s == pytest.approx(0.5)
    assert timing.step_s == pytest.approx((0.1, 0.2, 0.3))
    assert timing.end_to_end_s == pytest.approx(1.2)
    assert timing.decode_tokens_per_s == pytest.approx(2 * 3 / 0.6)
    assert timing.prefill_tokens_per_s == pytest.approx(2 * 8 / 0.5)


def test_timed_generate_refuses_a_short_generation():
    class StopsEarly(FakeModel):
        def generate(self, input_ids, logits_processor, max_new_tokens, **kwargs):
            return super().generate(input_ids, logits_processor, max_new_tokens - 1, **kwargs)

    ids = torch.zeros((1, 4), dtype=torch.long)
    with pytest.raises(RuntimeError, match="produced 3 tokens"):
        generation.timed_generate(StopsEarly(), ids, torch.ones_like(ids), 4)


def test_memory_tracker_reads_the_high_water_mark(monkeypatch):
    kib = 1024
    statuses = iter(
        [
            {"VmRSS": 1000 * kib, "VmHWM": 1000 * kib},  # is /proc readable?
            {"VmRSS": 1000 * kib, "VmHWM": 1000 * kib},  # before
            {"VmRSS": 3000 * kib, "VmHWM": 9000 * kib},  # after
            {"VmRSS": 3000 * kib, "VmHWM": 9000 * kib},  # peak
        ]
    )
    monkeypatch.setattr(memory, "process_status", lambda: next(statuses))
    monkeypatch.setattr(memory, "reset_peak_rss", lambda: True)
    with memory.track_memory() as tracker:
        pass
    reading = tracker.reading
    assert reading.method == "vmhwm"
    assert reading.rss_before_bytes == 1000 * kib and reading.rss_after_bytes == 3000 * kib
    assert reading.peak_growth_bytes == 8000 * kib


def test_memory_tracker_falls_back_to_endpoints(monkeypatch):
    monkeypatch.setattr(memory, "reset_peak_rss", lambda: False)
    with memory.track_memory() as tracker:
        kept = bytearray(1 << 20)
    assert tracker.reading.method == "endpoints" and kept
    assert tracker.reading.peak_rss_bytes == max(
        tracker.reading.rss_before_bytes, tracker.reading.rss_after_bytes
    )


def test_real_high_water_mark_sees_a_temporary_allocation():
    if not memory.reset_peak_rss():
        pytest.skip("this kernel does not let a process reset its RSS high-water mark")
    with memory.track_memory() as tracker:
        block = torch.ones(64 * 1024 * 1024 // 4)
        del block
    assert tracker.reading.peak_growth_bytes >= 48 * 1024 * 1024


def test_noise_monitor_counts_only_other_processes(monkeypatch):
    busy = iter([(100.0, 10.0), (102.0, 10.5)])
    walls = iter([0.0, 2.0])
    monkeypatch.setattr(noise, "_busy_seconds", lambda: next(busy))
    monkeypatch.setattr(noise.time, "perf_counter", lambda: next(walls))
    monitor = noise.NoiseMonitor()
    monitor.start()
    reading = monitor.stop()
    assert reading.foreign_cores == pytest.approx((2.0 - 0.5) / 2.0)
    assert reading.busy


def test_noise_monitor_does_not_judge_short_blocks():
    reading = noise.NoiseReading(None, None, foreign_cores=5.0, wall_s=0.01)
    assert not reading.busy


def test_the_default_thread_count_follows_affinity_and_cgroup_quotas(tmp_path, monkeypatch):
    import subprocess
    import sys

    from lmgauge import compute

    limit = tmp_path / "cpu.max"
    limit.write_text("150000 100000\n")
    assert compute.cpu_quota(limit, (tmp_path / "no", tmp_path / "no")) == 1.5
    limit.write_text("max 100000\n")
    assert compute.cpu_quota(limit, (tmp_path / "no", tmp_path / "no")) is None
    monkeypatch.setattr(compute, "cpu_quota", lambda: 1.5)
    assert compute.default_threads() == 1, "a quota of 1.5 CPUs gives one thread"
    pinned = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c",
         "from lmgauge.compute import default_threads; print(default_threads())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert pinned.stdout.strip() == "1", "taskset -c 0: one CPU, one thread"


def test_memory_is_handed_back_after_an_out_of_memory_on_cuda(monkeypatch):
    """Needs no GPU: the CUDA cache release is watched, as the CUDA paths are elsewhere."""
    import torch

    from lmgauge.measure.batching import release_memory

    calls = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty"))
    release_memory(torch.device("cpu"))
    assert calls == []
    release_memory(torch.device("cuda", 0))
    assert calls == ["empty"]


def test_a_short_block_is_judged_busy_when_another_process_spins():
    """The calibration takes about 0.33 s, under the 1 s a busy judgement needs: its reading
    waits out the window, so a busy machine can be seen (it never could before)."""
    import subprocess
    import sys

    from lmgauge.measure.noise import SHORTEST_JUDGED_S, NoiseMonitor

    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\n"
                                "while time.time() < end: pass"])  # fmt: skip
    try:
        monitor = NoiseMonitor()
        monitor.start()
        sum(range(10_000))
        reading = monitor.stop(min_window_s=SHORTEST_JUDGED_S)
    finally:
        spinner.kill()
        spinner.wait()
    assert reading.wall_s >= SHORTEST_JUDGED_S and reading.busy, reading


def test_cuda_events_are_recorded_on_the_device_asked_for(monkeypatch):
    """With --device cuda:1 the roofs timed an idle cuda:0 before (events on the current
    device). Needs no GPU: torch.cuda's device, stream and events are watched."""
    import contextlib

    import torch

    from lmgauge.measure.timing import kernel_seconds

    seen = []

    class Event:
        def __init__(self, enable_timing):
            pass

        def record(self, stream=None):
            seen.append(("record", stream))

        def synchronize(self):
            pass

        def elapsed_time(self, other):
            return 2.0

    @contextlib.contextmanager
    def current(device):
        seen.append(("device", str(device)))
        yield

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "device", current)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: f"stream of {device}")
    cuda1 = torch.device("cuda", 1)
    samples = kernel_seconds(lambda: None, 1, cuda1, gpu_iterations=4)
    assert samples == [2.0 / 1e3 / 4]
    assert seen[0] == ("device", "cuda:1")
    assert seen[1:] == [("record", "stream of cuda:1")] * 2


def test_device_memory_is_cuda_allocated_on_a_gpu_and_rss_on_the_host():
    """Fine-tuning on a GPU recorded host RSS as its peak growth before; every reader now takes
    the one property."""
    from lmgauge.measure.memory import MemoryReading

    host = MemoryReading(100, 150, 300, "vmhwm")
    assert (host.device_peak_growth_bytes, host.device_memory_kind) == (200, "rss")
    gpu = MemoryReading(100, 150, 300, "vmhwm", cuda_allocated_before_bytes=1000,
                        cuda_peak_allocated_bytes=5000, cuda_peak_reserved_bytes=8000)  # fmt: skip
    assert (gpu.device_peak_growth_bytes, gpu.device_memory_kind) == (4000, "cuda-allocated")


def test_a_model_spread_over_gpus_is_synchronised_and_tracked_on_every_one(monkeypatch):
    """device_map="auto" runs on `cuda` without an index: synchronisation and memory touched
    the current GPU only. Needs no GPU: torch.cuda is watched."""
    import torch

    from lmgauge.compute import synchronizer
    from lmgauge.measure.memory import track_memory
    from lmgauge.sources.loading import device_map_facts

    synced, reset = [], []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda index=None: synced.append(index))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda index: reset.append(index))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda index: 100 * (index + 1))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda index: 1000 * (index + 1))
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda index: 2000 * (index + 1))
    synchronizer(torch.device("cuda"))()
    assert synced == [0, 1]
    synced.clear()
    synchronizer(torch.device("cuda", 1))()
    assert synced == [1]
    with track_memory(torch.device("cuda")) as tracker:
        pass
    assert reset == [0, 1] and tracker.reading.cuda_peak_growth_bytes == 3000 - 300

    class Spread:
        hf_device_map = {"embed": 0, "layers.0": 0, "layers.1": 1, "lm_head": "cpu"}

    assert device_map_facts(Spread()) == {
        "modules_per_device": {"0": 2, "1": 1, "cpu": 1}, "offloaded": ["lm_head"]}
    assert device_map_facts(object()) is None
