"""Trackers: wall time, peak memory, generation steps, and machine noise. Each returns a frozen
dataclass whose fields say their unit in their name (`_s` seconds, `_bytes` bytes)."""
