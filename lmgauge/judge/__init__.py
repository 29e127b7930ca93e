"""Judging two runs: significance tests on rounds, verdicts on one figure, machine and speed drift
between two reports, the comparison table, the gate and its rules (gate.toml), paired A/B
verdicts, and the simulated error rates of the gate.

May import: lmgauge.record, lmgauge.errors. Never measures (no torch, no measure, quality,
model or sources module).
"""
