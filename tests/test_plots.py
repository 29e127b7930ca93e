"""Charts of reports: drawn from real report documents, whatever their verdicts."""

from __future__ import annotations

import json

from lmgauge.render.plots import draw
from tests.reports_for_tests import make_report


def test_a_comparison_whose_interval_lies_beside_its_ratio_is_drawn(tmp_path):
    """On a machine 1.4x as slow the raw ratio is about 1.4, while the interval of the rounds,
    normalised by the speed probe, sits near 1: the chart shows both instead of failing."""
    base, slow_machine = tmp_path / "base.json", tmp_path / "slow-machine.json"
    base.write_text(json.dumps(make_report(1)))
    slow_machine.write_text(json.dumps(make_report(2, machine=1.4)))
    drawn = draw([base, slow_machine], tmp_path / "plots")
    assert any(path.name.endswith(".compare.png") for path in drawn)
    assert all(path.stat().st_size > 10_000 for path in drawn)
