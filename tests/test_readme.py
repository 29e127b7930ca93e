"""The README is the front door: its quick start, metrics and options must stay true."""

import re

from lmgauge.judge.gate import DEFAULT_RULES
from lmgauge.judge.gate_rules import load_gate_rules
from lmgauge.record.metrics import METRICS
from lmgauge.render.rules_table import rules_markdown
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_and_ci_runs_the_test_command():
    bench, test = quick_start_commands()
    assert bench.startswith("./dev pytest benches") and test.startswith("./dev pytest tests")
    assert f"run {test}" in (PROJECT / ".ci" / "run").read_text()


def test_every_metric_is_documented_with_its_unit():
    for metric in METRICS.values():
        row = re.search(rf"^\| `{metric.name}` \| (\S+) \| (\S+) \|", README, re.M)
        assert row, f"README lacks a row for metric {metric.name}"
        assert row.groups() == (metric.unit, metric.direction), metric.name


def test_every_metric_row_is_the_catalogues_own():
    """Found by a new-user trial: three rows said other things than `lmgauge metrics`."""
    for metric in METRICS.values():
        row = f"| `{metric.name}` | {metric.unit} | {metric.direction} | {metric.meaning} |"
        assert row in README, f"README's row of {metric.name} differs from `lmgauge metrics`"


def test_every_documented_metric_is_in_the_catalogue():
    section = README.split("\n### Metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.M)
    assert documented, "the metric table moved; update this test"
    assert sorted(set(documented) - set(METRICS)) == []
    assert len(documented) == len(set(documented)), "a metric is documented twice"


def test_the_gate_table_is_the_one_gate_toml_makes():
    assert rules_markdown(load_gate_rules(DEFAULT_RULES)) in README, (
        "the README's gate table differs from lmgauge/judge/gate.toml: paste `lmgauge rules`"
    )


def test_every_option_is_documented(pytestconfig):
    group = pytestconfig._parser.getgroup("lmgauge")
    for option in group.options:
        for name in option.names():
            assert f"`{name}" in README, f"README does not document {name}"
