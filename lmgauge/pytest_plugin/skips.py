"""Skips whose reason is a measurement, not a missing piece: a sweep that never saturated, a
step too short to compare, a timing check on a busy machine. They can differ between two runs
of the same code, so the gate does not count such a skip as a test the new run lost
(lmgauge.judge.compare.test_regressions); the report marks them `measured`."""

from __future__ import annotations

import pytest

MEASURED_SKIP = ("lmgauge", "skipped on a measurement")
"""The user property a test carries when it skipped on what it measured."""


def skip_on_measurement(node: pytest.Item, reason: str) -> None:
    """Skip the running test `node` with `reason`, marked as a skip on a measurement."""
    node.user_properties.append(MEASURED_SKIP)
    pytest.skip(reason)
