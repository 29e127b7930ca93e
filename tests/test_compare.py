"""compare and gate on reports with known differences: verdicts, significance, machines."""

import math

import pytest

from lmgauge.judge.compare import compare
from lmgauge.judge.gate import DEFAULT_RULES, run_gate
from lmgauge.judge.gate_rules import load_gate_rules
from lmgauge.render.comparison import render
from tests.reports_for_tests import ENVIRONMENT, make_report

RULES = load_gate_rules(DEFAULT_RULES)


def verdicts(comparison) -> dict:
    rows = comparison.rows
    return {(r.model, r.metric): r.verdict for r in rows.itertuples()}


def test_the_same_code_twice_compares_as_same_and_passes():
    comparison = compare(make_report(1), make_report(2), RULES)
    assert set(verdicts(comparison).values()) == {"same"}
    assert run_gate(make_report(1), make_report(2)).passed


def test_a_real_slowdown_is_significant_over_rounds_and_fails_the_gate():
    result = run_gate(make_report(1), make_report(2, slowdown=1.6))
    found = verdicts(result.comparison)
    assert found["gpt2", "decode_step_seconds"] == "worse"
    assert found["gpt2", "ttft_seconds"] == "worse"
    row = result.failures.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.p_value == pytest.approx(1 / 252), "5 rounds a side that never overlap"
    assert 1.4 < row.ci_low < row.ci_high < 1.8
    assert row.change.endswith("x slower")
    assert not result.passed and "decode_step_seconds" in result.message()


def test_steps_of_one_round_are_not_independent_evidence():
    """A run 10 % slower as a whole: pooled steps would give p < 1e-10; rounds cannot go
    below 1/252 with 5 a side, and the change is inside the tolerance anyway."""
    comparison = compare(make_report(1), make_report(2, slowdown=1.1), RULES)
    row = comparison.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.p_value >= 1 / 252 and row.verdict == "same"


def test_a_small_change_is_same_and_a_faster_run_is_better():
    found = verdicts(compare(make_report(1), make_report(2, slowdown=1.05), RULES))
    assert found["gpt2", "decode_step_seconds"] == "same", "5 % is inside the 25 % tolerance"
    found = verdicts(compare(make_report(1), make_report(2, slowdown=0.6), RULES))
    assert found["gpt2", "decode_step_seconds"] == "better"


def test_parameter_count_and_accuracy_changes_are_judged_in_the_same_table():
    result = run_gate(make_report(1), make_report(2, parameters=124_439_809, accuracy=0.70))
    found = verdicts(result.comparison)
    assert found["gpt2", "parameters_total"] == "changed"
    assert found["gpt2", "baseline_accuracy"] == "worse"
    assert set(result.failures["metric"]) == {"parameters_total", "baseline_accuracy"}
    small_drop = compare(make_report(1), make_report(2, accuracy=0.735), RULES)
    assert verdicts(small_drop)["gpt2", "baseline_accuracy"] == "same"


def test_busy_excuses_only_timing_and_only_up_to_its_limit():
    busy_slower = verdicts(compare(make_report(1), make_report(2, slowdown=1.3, busy=True), RULES))
    assert busy_slower["gpt2", "decode_step_seconds"] == "too noisy"
    twice = verdicts(compare(make_report(1), make_report(2, slowdown=2.0, busy=True), RULES))
    assert twice["gpt2", "decode_step_seconds"] == "worse", "a busy flag cannot erase 2x"
    memory = compare(make_report(1), make_report(2, memory=2.0, busy=True), RULES)
    assert verdicts(memory)["gpt2", "forward_peak_bytes"] == "worse", "memory is not load-bound"


def test_a_drifted_machine_is_normalised_by_the_probe_but_cannot_hide_2x():
    drifted = compare(make_report(1), make_report(2, machine=1.35), RULES)
    row = drifted.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.verdict == "same" and "normalised by the speed probe" in row.note
    real = verdicts(compare(make_report(1), make_report(2, machine=1.35, slowdown=1.6), RULES))
    assert real["gpt2", "decode_step_seconds"] == "worse"
    huge_drift = verdicts(compare(make_report(1), make_report(2, machine=2.5), RULES))
    assert huge_drift["gpt2", "decode_step_seconds"] == "worse", "correction capped at 1.5x"


def test_a_gated_figure_that_cannot_fail_is_not_counted_gated():
    base, new = make_report(1), make_report(2)
    for document in (base, new):
        for result in document["results"]:
            if result["metric"] == "ttft_seconds":
                result["samples"], result["rounds"] = [], []
    rows = compare(base, new, RULES).rows
    assert not rows.query("metric == 'ttft_seconds'")["gated"].any()
    assert rows.query("metric == 'decode_step_seconds'")["gated"].all()


def test_another_machine_names_the_differences_and_raises_no_false_regression():
    other = {**ENVIRONMENT, "cpu_model": "Intel Xeon", "cpu_cores_physical": 8}
    new = make_report(2, slowdown=1.6, environment=other, matmul=3e11)
    result = run_gate(make_report(1), new)
    comparison = result.comparison
    assert comparison.hardware == ["CPU model: AMD EPYC -> Intel Xeon", "physical cores: 2 -> 8"]
    found = verdicts(comparison)
    assert found["gpt2", "decode_step_seconds"] == "not comparable"
    assert found["gpt2-medium / gpt2", "decode_step_seconds"] == "same", "both 1.6x slower"
    assert found["gpt2", "parameters_total"] == "same"
    assert result.passed
    assert "machines differ" in render(comparison)


def test_fewer_threads_is_a_setup_difference_whose_slowdown_fails_the_gate():
    result = run_gate(make_report(1), make_report(2, slowdown=1.8, threads=1, matmul=0.7e11))
    assert result.comparison.setup == ["threads: 2 -> 1"]
    assert not result.passed


def without_probes(document: dict) -> dict:
    for result in document["results"]:
        result["probe_seconds"] = []
    return document


def test_calibrated_roofs_excuse_only_runs_without_probes_and_only_up_to_the_limit():
    drifted = make_report(2, slowdown=1.3, matmul=1.0e11)
    comparison = compare(make_report(1), drifted, RULES)
    assert comparison.drift == ["matmul FLOP/s 1.4e+11 -> 1e+11 between the runs"]
    assert verdicts(comparison)["gpt2", "decode_step_seconds"] == "worse", (
        "probes say: same machine"
    )
    old = compare(without_probes(make_report(1)), without_probes(drifted), RULES)
    assert verdicts(old)["gpt2", "decode_step_seconds"] == "too noisy"
    faster_machine = make_report(2, slowdown=1.3, matmul=2e11)
    old = compare(without_probes(make_report(1)), without_probes(faster_machine), RULES)
    assert verdicts(old)["gpt2", "decode_step_seconds"] == "worse"
    beyond = without_probes(make_report(2, slowdown=2.0, matmul=1.0e11))
    old = compare(without_probes(make_report(1)), beyond, RULES)
    assert verdicts(old)["gpt2", "decode_step_seconds"] == "worse"


def test_a_figure_missing_for_a_benched_model_fails_the_gate():
    new = make_report(2)
    new["results"] = [r for r in new["results"] if r["metric"] != "ttft_seconds"]
    result = run_gate(make_report(1), new)
    assert set(result.failures["verdict"]) == {"only in base"}
    assert math.isnan(result.failures.iloc[0]["new"])


@pytest.mark.parametrize("form", ["text", "markdown", "csv"])
def test_every_format_renders(form):
    text = render(compare(make_report(1), make_report(2, slowdown=1.6), RULES), form)
    assert "decode_step_seconds" in text and "x slower" in text
