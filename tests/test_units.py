"""One table of units (lmgauge.record.units) used by the catalogue, the judges and the text."""

import math

import pytest

from lmgauge.judge.gate import DEFAULT_RULES
from lmgauge.judge.gate_rules import load_gate_rules
from lmgauge.judge.spread import probe_units_log
from lmgauge.judge.verdicts import describe_change, judge
from lmgauge.record.metrics import METRICS, load_catalogue
from lmgauge.record.units import MACHINE_BOUND_UNITS, UNITS, unit_of

RULES = load_gate_rules(DEFAULT_RULES)


def test_every_catalogued_metric_has_a_unit_from_the_table():
    assert {metric.unit for metric in METRICS.values()} <= set(UNITS)
    assert set(MACHINE_BOUND_UNITS) == {"s", "tokens/s", "sequences/s", "sentences/s",
                                        "requests/s", "bytes/s", "FLOP/s"}  # fmt: skip


def test_the_catalogue_refuses_a_unit_it_does_not_know(tmp_path):
    catalogue = tmp_path / "metrics.toml"
    catalogue.write_text('[energy_per_token]\nunit = "J"\ndirection = "lower"\nmeaning = "x"\n')
    with pytest.raises(ValueError, match="unit 'J' is not in lmgauge's table of units.*tokens/s"):
        load_catalogue(catalogue)


def result(unit: str, direction: str) -> dict:
    return {"unit": unit, "direction": direction, "value": 2.0, "probe_seconds": [0.004]}


def test_an_unknown_unit_is_never_corrected_as_if_it_were_a_throughput():
    """Before the table, a figure whose direction was "higher" was put in probe units as a
    throughput, whatever its unit."""
    assert probe_units_log(result("tokens/s", "higher")) == pytest.approx(
        math.log(2.0) + math.log(0.004))  # fmt: skip
    assert probe_units_log(result("s", "lower")) == pytest.approx(math.log(2.0 / 0.004))
    assert probe_units_log(result("J", "higher")) is None
    assert probe_units_log(result("ratio", "higher")) is None
    assert not unit_of("J").machine_bound


@pytest.mark.parametrize(
    ("unit", "after", "words"),
    [("s", 2.4, "1.2x slower"), ("tokens/s", 2.4, "1.2x faster"), ("bytes", 1.0, "2x less"),
     ("count", 2.4, "1.2x more"), ("J", 2.4, "1.2x higher")],
)  # fmt: skip
def test_a_change_reads_in_the_words_of_its_unit(unit, after, words):
    rule = RULES.rule_for("decode_step_seconds", "s")
    assert describe_change(2.0, after, unit, "lower", rule) == words


@pytest.mark.parametrize(("before", "after"), [(-0.0137, 0.0209), (-2.0, -1.0), (0.5, -0.5)])
def test_a_change_across_or_below_zero_reads_as_a_difference_not_a_factor(before, after):
    """Found by a new-user pass: -0.0137 -> 0.0209 read '-0.655x higher'."""
    rule = RULES.rule_for("position_step_exponent", "ratio")
    assert describe_change(before, after, "ratio", "lower", rule) == f"{after - before:+.4g}"
    figure = {"metric": "position_step_exponent", "unit": "ratio", "direction": "lower",
              "samples": []}
    judged = judge({**figure, "value": before}, {**figure, "value": after}, rule, 0.05)
    assert math.isnan(judged.ratio) and math.isnan(judged.raw_ratio), "a ratio across zero"


def test_a_gated_figure_whose_unit_changed_or_is_unknown_fails_the_stored_gate():
    """Found by review: decode steps written in ms by the new run dropped out of the gate
    (no rule matched 'ms') and it passed."""
    from lmgauge.judge.gate import run_gate
    from tests.reports_for_tests import make_report

    base, new = make_report(1), make_report(2)
    for result in new["results"]:
        if result["metric"] == "decode_step_seconds":
            result["unit"], result["value"] = "ms", result["value"] * 1000
    result = run_gate(base, new, RULES)
    assert not result.passed
    assert "its unit changed from 's' to 'ms'" in result.message()
