"""Measuring: wall time (synchronised on CUDA), generation steps, peak memory, machine noise, the
speed probe, adaptive timed rounds, device calibration, cold loads in a fresh process, the
environment fingerprint, and the injected slowdown used to validate the gate. Trackers return
frozen dataclasses whose fields say their unit in their name (`_s` seconds, `_bytes` bytes).

May import: lmgauge.sources, lmgauge.errors, lmgauge.compute. Never pytest: a bench hands in
pytest-benchmark's fixture as an argument.
"""
