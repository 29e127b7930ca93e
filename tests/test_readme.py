"""The README is the front door: its quick start, metrics and options must stay true."""

import re

from lmgauge.record.metrics import METRICS
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_and_ci_runs_the_test_command():
    bench, test = quick_start_commands()
    assert bench.startswith("./dev pytest benches") and test == "./dev pytest tests"
    assert f"run {test}" in (PROJECT / ".ci" / "run").read_text()


def test_every_metric_is_documented_with_its_unit():
    for metric in METRICS.values():
        row = re.search(rf"^\| `{metric.name}` \| (\S+) \| (\S+) \|", README, re.M)
        assert row, f"README lacks a row for metric {metric.name}"
        assert row.groups() == (metric.unit, metric.direction), metric.name


def test_every_option_is_documented(pytestconfig):
    group = pytestconfig._parser.getgroup("lmgauge")
    for option in group.options:
        for name in option.names():
            assert f"`{name}" in README, f"README does not document {name}"
