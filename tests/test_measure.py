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
