"""compare and gate on reports with known differences: verdicts, significance, machines."""

import copy
import dataclasses
import json
import math
import re

import numpy as np
import pytest

from lmgauge.judge.compare import compare
from lmgauge.judge.gate import DEFAULT_RULES, gate_summary, gate_verdict, run_gate
from lmgauge.judge.gate_rules import load_gate_rules
from lmgauge.judge.spread import combined, holm
from lmgauge.render.comparison import render
from tests.reports_for_tests import ENVIRONMENT, make_report

RULES = load_gate_rules(DEFAULT_RULES)


def baseline(**options):
    """Five runs of the same code (seeds 11-15): medians and run-to-run spreads."""
    return combined([make_report(seed, **options) for seed in range(11, 16)])


def verdicts(comparison) -> dict:
    rows = comparison.rows
    return {(r.model, r.metric): r.verdict for r in rows.itertuples()}


def test_the_same_code_twice_compares_as_same_and_passes():
    comparison = compare(make_report(1), make_report(2), RULES)
    assert set(verdicts(comparison).values()) == {"same"}
    assert run_gate(make_report(1), make_report(2)).passed


def test_a_real_slowdown_is_significant_across_runs_and_fails_the_gate():
    result = run_gate(baseline(), make_report(2, slowdown=1.6))
    found = verdicts(result.comparison)
    assert found["gpt2", "decode_step_seconds"] == "worse"
    assert found["gpt2", "ttft_seconds"] == "worse"
    row = result.failures.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.p_value < 0.01 and row.p_adjusted <= 0.05
    assert 1.3 < row.ci_low < 1.6 < row.ci_high < 2.0
    assert row.change.endswith("x slower") and "5 base runs" in row.note
    assert not result.passed and "decode_step_seconds" in result.message()
    assert "6 figures judged by their run-to-run spread (estimated from the 5 base runs where " \
           "they have the figure, else gate.toml's stated one) and 2 model families (each " \
           "model's timings in one setup, judged together) share a false-alarm rate of at most " \
           "5 % per run" in result.message()


def test_the_run_is_the_unit_not_the_round():
    """One run 1.3x slower than one base run with tight rounds: a rank test over the rounds
    reaches its floor (1/252), but runs of the same code on the runner move by about 10 %
    (the rules' run_spread), so one run against one run cannot call it, and says so."""
    comparison = compare(make_report(1), make_report(2, slowdown=1.3), RULES)
    row = comparison.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.verdict == "too noisy" and row.p_value > 1 / 252
    assert "gate rules default" in row.note
    assert "Holm-adjusted" in row.note or row.p_value > 0.05


def test_the_family_of_timings_is_controlled():
    """A figure significant on its own (p < 0.05) but not after Holm over the run's gated
    timings is too noisy, not worse."""
    rows = compare(baseline(), make_report(2, slowdown=1.3), RULES).rows
    timing = rows[rows["p_adjusted"].notna()]
    assert len(timing) == 6 and (timing["p_adjusted"] >= timing["p_value"]).all()


def test_a_small_change_is_same_and_a_faster_run_is_better():
    found = verdicts(compare(make_report(1), make_report(2, slowdown=1.05), RULES))
    assert found["gpt2", "decode_step_seconds"] == "same", "5 % is inside the 25 % tolerance"
    found = verdicts(compare(baseline(), make_report(2, slowdown=0.6), RULES))
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
    """A busy flag shrinks a slowdown, but it measured nothing, so what it brings within the
    tolerance is "too noisy" (passed, not cleared, named by the gate), never "same" (found by a
    fail-closed audit: a 1.45x slowdown read "same" when the new run was flagged busy)."""
    busy_slower = compare(baseline(), make_report(2, slowdown=1.3, busy=True), RULES)
    row = busy_slower.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.verdict == "too noisy" and "new run flagged busy: excused" in row.note
    assert "an excuse that measured nothing cannot clear a change" in row.note
    assert row.raw_ratio == pytest.approx(1.3, rel=0.06) and row.ratio == pytest.approx(1.0)
    gate = run_gate(baseline(), make_report(2, slowdown=1.3, busy=True))
    assert "the worse way within their run-to-run noise (too noisy)" in gate.message()
    calm = compare(baseline(), make_report(2, slowdown=1.05, busy=True), RULES)
    assert verdicts(calm)["gpt2", "decode_step_seconds"] == "same", "within tolerance unexcused"
    twice = verdicts(compare(baseline(), make_report(2, slowdown=2.0, busy=True), RULES))
    assert twice["gpt2", "decode_step_seconds"] == "worse", "a busy flag cannot erase 2x"
    memory = compare(baseline(), make_report(2, memory=2.0, busy=True), RULES)
    assert verdicts(memory)["gpt2", "forward_peak_bytes"] == "worse", "memory is not load-bound"


def test_a_timing_the_base_measured_only_while_busy_is_not_judged_and_fails():
    """Found by a new-user trial: a base busy in every run at 40x passed a 4.9x slowdown. A
    busy base value excuses nothing and hides a slowdown of its size, so the gate cannot judge
    the figure, and fails on it, whatever the new run did; memory is not load-bound."""
    for base in (baseline(busy=True), make_report(11, busy=True)):
        result = run_gate(base, make_report(2, slowdown=1.4))
        row = result.comparison.rows.query(
            "metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
        assert row.verdict == "not judged" and row.fails_gate
        assert "the base measured it only while the machine was busy" in row.note
        assert not result.passed and not run_gate(base, make_report(3)).passed
        memory = result.comparison.rows.query("metric == 'forward_peak_bytes'")
        assert set(memory.verdict) == {"same"}


def test_excuses_stack_at_most_once():
    """2.2x slower with the probe 1.5x slower and a busy flag: the probe uses the whole
    excuse (1.5x), the busy flag has nothing left, and 2.2 / 1.5 = 1.47x still fails."""
    new = make_report(2, slowdown=2.2 / 1.5, machine=1.5, busy=True)
    row = compare(baseline(), new, RULES).rows.query(
        "metric == 'decode_step_seconds' and model == 'gpt2'"
    ).iloc[0]
    assert row.verdict == "worse" and row.fails_gate
    assert row.raw_ratio == pytest.approx(2.2, rel=0.06)
    assert row.ratio == pytest.approx(2.2 / 1.5, rel=0.06)
    assert "raw 2." in row.note and "normalised 1.4" in row.note


def test_a_drifted_machine_is_normalised_by_the_probe_but_cannot_hide_2x():
    drifted = compare(baseline(), make_report(2, machine=1.35), RULES)
    row = drifted.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.verdict == "same" and "speed probe: machine 1.3" in row.note
    real = verdicts(compare(baseline(), make_report(2, machine=1.35, slowdown=1.6), RULES))
    assert real["gpt2", "decode_step_seconds"] == "worse"
    huge_drift = verdicts(compare(baseline(), make_report(2, machine=2.5), RULES))
    assert huge_drift["gpt2", "decode_step_seconds"] == "worse", "correction capped at 1.5x"


def test_a_timing_without_a_spread_to_judge_it_by_fails():
    rules = load_gate_rules(DEFAULT_RULES)
    rules = type(rules)(
        tuple(type(r)(**{**r.__dict__, "run_spread": None}) for r in rules.rules), rules.alpha
    )
    result = run_gate(make_report(1), make_report(2, slowdown=1.6), rules)
    row = result.failures.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.verdict == "not judged" and "no run-to-run spread" in row.note
    assert not result.passed


def with_value(document: dict, metric: str, value) -> dict:
    for result in document["results"]:
        if result["metric"] == metric and result["model"] == "gpt2":
            result["value"] = value
    return document


def test_a_nan_figure_fails_the_gate_with_its_reason():
    new = with_value(make_report(2), "baseline_accuracy", math.nan)
    result = run_gate(make_report(1), new)
    (row,) = result.failures.itertuples()
    assert row.metric == "baseline_accuracy" and row.verdict == "not judged"
    assert "not a finite number in new" in row.note
    assert not result.passed and "not a finite number" in result.message()


def test_a_figure_only_in_new_fails_too():
    base = make_report(1)
    base["results"] = [r for r in base["results"] if r["metric"] != "forward_peak_bytes"]
    result = run_gate(base, make_report(2))
    assert set(result.failures["verdict"]) == {"only in new"}
    assert "refresh the baseline" in result.message()


def test_a_test_that_failed_only_in_new_fails_the_gate():
    new = make_report(2)
    new["tests"]["not_passed"] = [{"test": "benches/bench_generate.py::test_generate[gpt2]",
                                   "outcome": "failed", "when": "call",
                                   "message": "RuntimeError: boom\nmore"}]  # fmt: skip
    result = run_gate(make_report(1), new)
    assert not result.passed
    expected = "bench_generate.py::test_generate[gpt2]: failed in call (RuntimeError: boom)"
    assert expected in result.message()
    base = make_report(1)
    base["tests"]["not_passed"] = new["tests"]["not_passed"]
    both = run_gate(base, new)
    assert both.comparison.tests == [], "failing on both sides is no regression"
    assert not both.passed, "but what the test measures was not judged: the gate fails closed"
    assert ("test benches/bench_generate.py::test_generate[gpt2]: failed in call on both sides "
            "(RuntimeError: boom); what it measures was not judged") in both.message()
    assert gate_summary(both, "base.json")["tests_failed_on_both_sides"]
    assert gate_verdict(gate_summary(both, "base.json")) == "FAILED (1 test)"
    base["tests"]["not_passed"] = [{**new["tests"]["not_passed"][0], "outcome": "skipped"}]
    assert not run_gate(base, new).passed and run_gate(base, new).comparison.tests


def test_a_test_failing_in_another_phase_or_in_teardown_on_both_sides_is_said_as_it_was():
    """Found by review: the sentence gave the new side's phase as both sides', and said
    "not judged" of a test whose figures were recorded before its teardown failed."""
    def failing(when):
        report = make_report(1)
        report["tests"]["not_passed"] = [{"test": "b.py::t", "outcome": "error", "when": when,
                                          "message": "E"}]  # fmt: skip
        return report

    (line,) = run_gate(failing("setup"), failing("call")).comparison.tests_failed_before
    assert line == "b.py::t: error in call (in the base: error in setup) (E); what it measures " \
                   "was not judged"
    teardown = run_gate(failing("teardown"), failing("teardown"))
    assert not teardown.passed
    assert teardown.comparison.tests_failed_before == [
        "b.py::t: error in teardown on both sides (E); its figures were recorded, but it is "
        "broken on both sides"]  # fmt: skip
    assert gate_verdict({"passed": False, "failures": [], "message": "FAILED\n  the gate judged "
                         "no gated figure"}) == "FAILED (the gate judged no gated figure)"


def test_a_run_that_did_not_finish_fails_the_gate():
    new = make_report(2)
    new["run"]["status"] = "killed"
    result = run_gate(make_report(1), new)
    assert not result.passed and "the new run did not finish (status killed)" in result.message()
    base = make_report(1)
    base["run"]["status"] = "interrupted"
    result = run_gate(base, make_report(2))
    assert not result.passed, "found by a fail-closed audit: a killed base file passed"
    assert "the base run did not finish (status interrupted)" in result.message()


def test_a_test_skipped_in_new_that_passed_in_base_fails_the_gate():
    """Found by a fail-closed audit: a check that records no figure, passed in base and skipped
    (or xfailed) in new, went unseen."""
    check = "benches/bench_x.py::test_check[gpt2]"
    base, new = make_report(1), make_report(2)
    base["tests"] = {"not_passed": [], "passed": [check]}
    new["tests"] = {"not_passed": [{"test": check, "outcome": "skipped", "when": "setup",
                                    "message": "Skipped: no tokenizer"}], "passed": []}  # fmt: skip
    result = run_gate(base, new)
    assert not result.passed
    assert f"{check}: skipped in new, passed in base (Skipped: no tokenizer)" in result.message()
    new["tests"]["not_passed"][0]["measured"] = True
    assert run_gate(base, new).passed, "a skip on a measurement (a sweep that never saturated)"
    del new["tests"]["passed"]  # found by a new-user trial: a test left out went unseen
    unlisted = run_gate(base, new)
    assert not unlisted.passed and ("a new run does not list the tests it passed (an older "
                                    "lmgauge, or an edited report), so whether it ran the 1 tests "
                                    "the base passed cannot be judged") in (
        unlisted.comparison.unfinished)  # fmt: skip
    assert not unlisted.comparison.tests, "review: it is not a failing test named 'tests'"
    new["tests"]["passed"] = []
    new["tests"]["not_passed"][0].pop("measured")
    folder = combined([make_report(3), base])
    assert not run_gate(folder, new).passed, "a base folder keeps what its runs passed"
    new["tests"]["passed"] = []
    result = run_gate(base, new)
    assert "skipped in new" in result.message() and "not run in new" not in result.message()
    new["tests"] = {"not_passed": [], "passed": []}
    result = run_gate(base, new)
    assert not result.passed, "a check the new run deselected, or whose file no longer collects"
    assert f"{check}: not run in new, passed in base" in result.message()
    new["tests"] = {"not_passed": [{"test": check, "outcome": "skipped", "when": "setup",
                                    "message": "Skipped: no tokenizer"}]}  # fmt: skip
    del base["tests"]["passed"]
    assert run_gate(base, new).passed, "a base that lists no passed tests cannot show a skip"
    del new["tests"]
    untested = run_gate(base, new)
    assert not untested.passed and "the new report lists no tests" in untested.message()


def test_a_deterministic_figure_with_rounds_is_not_demoted_by_a_rank_test():
    """Found by a new-user trial: failed requests going 0 -> 3 in each load run got a rank-test
    p, Holm's family correction demoted "worse" to "too noisy", and the gate passed."""
    from lmgauge.record.recording import RunRecorder

    def with_failures(document, count):
        recorder = RunRecorder({})
        recorder.record("serve", "gpt2", "served_failed_requests", samples=[count] * 3,
                        rounds=[count] * 3, test="s", concurrency=1)  # fmt: skip
        document["results"].append(dataclasses.asdict(recorder.results[0]))
        return document

    result = run_gate(with_failures(make_report(1), 0), with_failures(make_report(2), 3))
    row = result.comparison.rows.query("metric == 'served_failed_requests'").iloc[0]
    assert row.verdict == "worse" and math.isnan(row.p_value) and not result.passed


def test_null_probes_are_probes_all_the_same_so_the_roofs_excuse_nothing():
    """Found by a new-user trial: with every probe time null, halved roofs excused 1.5x of a
    2.5x slowdown, as they do for reports made before probes existed."""
    base = make_report(1)
    new = make_report(2, slowdown=2.5, matmul=0.7e11)
    for result in new["results"]:
        result["probe_seconds"] = [None] * len(result["probe_seconds"] or [None])
    row = compare(base, new, RULES).rows.query(
        "metric == 'ttft_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
    assert row.verdict == "worse" and "excused" not in row.note


def test_a_probe_list_with_a_null_time_excuses_nothing():
    """Found by a new-user trial: probes of [1.5x, null] excused a 1.5x slowdown fully, by the
    median of what was left; the probe never writes null, so the list is broken."""
    base, new = make_report(1), make_report(2, machine=2.0)
    whole = compare(base, new, RULES).rows.query(
        "metric == 'ttft_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
    assert whole.verdict == "too noisy" and "excused by the speed probe" in whole.note
    for result in new["results"]:
        if result["probe_seconds"]:
            result["probe_seconds"][-1] = None
    row = compare(base, new, RULES).rows.query(
        "metric == 'ttft_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
    assert row.verdict == "worse" and "excused" not in row.note


def test_a_probe_ratio_no_machine_moves_by_excuses_nothing():
    """Found by a new-user trial: probe times multiplied by 1e9 excused 1.5x of a 3x slowdown
    ("machine 845743275.54x as slow in new")."""
    base, new = make_report(1), make_report(2, slowdown=3.0)
    for result in new["results"]:
        result["probe_seconds"] = [t * 1e9 for t in result["probe_seconds"] or []]
    row = compare(base, new, RULES).rows.query(
        "metric == 'ttft_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
    assert row.verdict == "worse" and "excused" not in row.note
    assert re.search(r"speed probe set aside: it read the machine [\d.]+e\+0[89]x as slow in new, "
                     r"beyond 4x either way", row.note), "the verdict says why it excused nothing"


def test_a_baseline_folder_of_mixed_machines_or_a_broken_report_is_refused(tmp_path):
    from lmgauge.errors import ReportError
    from lmgauge.judge.run_folder import read_baseline
    from lmgauge.record.report import write_atomic

    for seed in range(3):
        write_atomic(make_report(seed), tmp_path / "ok" / f"{seed}.json")
    assert read_baseline(tmp_path / "ok").runs == 3
    other = {**ENVIRONMENT, "cpu_model": "Intel Xeon"}
    write_atomic(make_report(9, environment=other), tmp_path / "ok" / "9.json")
    with pytest.raises(ReportError, match=r"mixes runs that differ \(0.json -> 9.json: CPU model"
                       r".*move the runs that differ out of it"):  # fmt: skip
        read_baseline(tmp_path / "ok")
    (tmp_path / "ok" / "9.json").write_text('{"format": "lmgauge-run-report", "schema_ver')
    with pytest.raises(ReportError, match="baseline folder .*not valid JSON"):
        read_baseline(tmp_path / "ok")
    (tmp_path / "ok" / "9.json").unlink()
    (tmp_path / "ok" / "20261203T191935Z_run.json").write_text("")
    with pytest.raises(ReportError, match="baseline folder .*is empty, so not a run report"):
        read_baseline(tmp_path / "ok"), "found by a new-user trial: an emptied run was left out"
    (tmp_path / "ok" / "20261203T191935Z_run.json").unlink()
    (tmp_path / "ok" / "20261203T191935Z_run.json").symlink_to(tmp_path / "pruned.json")
    with pytest.raises(ReportError, match="baseline folder .*cannot read report"):
        read_baseline(tmp_path / "ok"), "a dangling link named as a report was left out"
    (tmp_path / "ok" / "20261203T191935Z_run.json").unlink()
    (tmp_path / "ok" / "copy.json").write_text((tmp_path / "ok" / "1.json").read_text())
    with pytest.raises(ReportError, match=r"holds one run twice \(1.json and copy.json"):
        read_baseline(tmp_path / "ok", role="new side"), "a copy narrowed the measured spread"


def test_a_run_folder_holding_a_killed_runs_journal_is_refused_not_judged_without_it(tmp_path):
    """Found by review: a new side of three runs whose last was killed left its journal, and the
    gate judged the two finished runs and passed."""
    from lmgauge.errors import ReportError
    from lmgauge.judge.run_folder import read_baseline
    from lmgauge.record.report import write_atomic

    for seed in range(2):
        write_atomic(make_report(seed), tmp_path / f"{seed}.json")
    (tmp_path / "1.journal.jsonl").write_text('{"event": "start"}\n')  # its report was written
    assert read_baseline(tmp_path, role="new").runs == 2
    (tmp_path / "2.journal.jsonl").write_text('{"event": "start"}\n')
    with pytest.raises(ReportError, match=r"new folder .* holds the journal of a run that has "
                       r"not written its report \(2.journal.jsonl\).*lmgauge recover"):  # fmt: skip
        read_baseline(tmp_path, role="new")
    twice = make_report(3)
    twice["results"].append(twice["results"][0])
    write_atomic(twice, tmp_path / "twice.json")
    with pytest.raises(ReportError, match="holds decode_step_seconds of gpt2 .* twice"):
        read_baseline(tmp_path / "twice.json")


def test_the_gate_names_what_is_wrong_with_both_sides_and_a_run_on_both(tmp_path):
    """Found by new-user trials: with a killed run's journal in both folders only the base's
    refusal showed; and a new report left inside the base folder passed, judged against
    itself, while it narrowed the base's spread."""
    from lmgauge.errors import ReportError
    from lmgauge.judge.run_folder import read_sides
    from lmgauge.record.report import write_atomic

    for side in ("base", "new"):
        for seed in range(2):
            write_atomic(make_report(seed + (10 if side == "new" else 0)),
                         tmp_path / side / f"{seed}.json")  # fmt: skip
    base, new = read_sides(tmp_path / "base", tmp_path / "new")
    assert (base.runs, new.runs) == (2, 2)
    for side in ("base", "new"):
        (tmp_path / side / "9.journal.jsonl").write_text('{"event": "start"}\n')
    with pytest.raises(ReportError, match=r"baseline folder .*base holds the journal.* new side "
                                          r"folder .*new holds the journal"):  # fmt: skip
        read_sides(tmp_path / "base", tmp_path / "new")
    for side in ("base", "new"):
        (tmp_path / side / "9.journal.jsonl").unlink()
    inside = tmp_path / "base" / "1.json"
    copy = tmp_path / "new" / "1.json"
    copy.write_bytes(inside.read_bytes())
    for new_side, what in ((inside, f"{inside} is both in the baseline and the new side"),
                           (copy, f"the baseline's {inside} and the new side's {copy} are one "
                                  r"run \(a copy\)")):  # fmt: skip
        with pytest.raises(ReportError, match=f"{what}, made .*: a run judged against itself "
                                              "passes"):  # fmt: skip
            read_sides(tmp_path / "base", new_side)
    undated = make_report(1)  # found by a trial: `lmgauge show` crashed on one, store kept it
    del undated["created_utc"]
    with pytest.raises(ReportError, match="created_utc is missing"):
        read_sides(write_atomic(undated, tmp_path / "undated.json"), tmp_path / "new" / "0.json")
    retimed = json.loads(copy.read_text())  # found by a trial: a copy with another created_utc
    retimed["created_utc"] = "2026-12-04T00:00:00+00:00"
    with pytest.raises(ReportError, match="with the same timings to the last digit: a run "
                                          "judged against itself"):  # fmt: skip
        read_sides(tmp_path / "base", write_atomic(retimed, tmp_path / "re.json"))
    write_atomic(retimed, tmp_path / "base" / "re.json")
    with pytest.raises(ReportError, match=r"holds one run twice \(1.json and re.json, both with "
                                          "the same timings"):  # fmt: skip
        read_sides(tmp_path / "base", tmp_path / "new" / "0.json")


def test_a_base_run_lacking_a_gated_figure_fails_it_as_not_judged():
    """Found by a new-user trial: a base folder run without gpt2's decode step was left out of
    that figure's median without a word; the same gap on the new side failed."""
    runs = [make_report(seed) for seed in range(3)]
    runs[1]["results"] = [r for r in runs[1]["results"]
                          if not (r["metric"] == "decode_step_seconds" and r["model"] == "gpt2")]
    result = run_gate(combined(runs), make_report(9))
    row = result.comparison.rows.query(
        "metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
    assert not result.passed and row.verdict == "not judged"
    assert row.note.startswith("missing from 1 of the 3 base runs")
    assert run_gate(combined([make_report(seed) for seed in range(3)]), make_report(9)).passed
    (lacking,) = [r for r in runs[0]["results"]
                  if r["metric"] == "decode_step_seconds" and r["model"] == "gpt2"]
    runs[1]["tests"]["not_passed"].append({"test": lacking["test"], "outcome": "skipped",
                                           "when": "call", "measured": True})  # fmt: skip
    skipped = run_gate(combined(runs), make_report(9)).comparison.rows.query(
        "metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
    assert skipped.verdict != "not judged", "review: a skip on a measurement may differ by run"


@pytest.mark.parametrize("broken", [math.nan, -0.1])
def test_a_base_run_with_a_broken_value_fails_the_figure_not_silently_drops_it(broken):
    """Found by a new-user trial: in a base folder, a run whose decode step was NaN, null or
    negative was left out of the median without a word (with 4 of 5 so, judged against one)."""
    runs = [make_report(seed) for seed in range(3)]
    for result in runs[1]["results"]:
        if result["metric"] == "decode_step_seconds" and result["model"] == "gpt2":
            result["value"] = broken
    result = run_gate(combined(runs), make_report(9))
    assert not result.passed
    row = result.comparison.rows.query(
        "metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
    assert row.verdict == "not judged" and row.note.startswith(
        "not a finite number, or a timing of zero or less, in 1 of the 3 base runs")  # fmt: skip


def test_a_base_slowed_on_purpose_fails_the_gate_and_a_folder_may_not_mix_it(tmp_path):
    """Found by review: a run made with --inject-slowdown 0.3 used as the base hid every
    regression up to 1.3x, and nothing said so."""
    from lmgauge.errors import ReportError
    from lmgauge.judge.run_folder import read_baseline
    from lmgauge.record.report import write_atomic

    slowed = make_report(1)
    slowed["run"]["options"]["inject_slowdown"] = 0.3
    result = run_gate(slowed, make_report(2))
    assert not result.passed
    assert "the base was made with --inject-slowdown 0.3 (every model): its timings were " \
           "slowed on purpose" in result.message()
    assert run_gate(make_report(1), slowed).comparison.base_slowed == ""
    slowed["run"]["options"]["inject_slowdown_models"] = "smollm2-135m,gpt2"
    message = run_gate(slowed, make_report(2)).message()
    assert "--inject-slowdown 0.3 (smollm2-135m,gpt2):" in message
    for seed, document in enumerate([make_report(3), make_report(4), slowed]):
        write_atomic(document, tmp_path / f"{seed}.json")
    with pytest.raises(ReportError, match=r"mixes runs that differ \(0.json -> 2.json: slowdown "
                       r"injected \(--inject-slowdown\): not recorded -> 0.3"):  # fmt: skip
        read_baseline(tmp_path)


def with_independent_timings(document: dict, seed: int, slowed: str = "", factor: float = 1.3):
    """Eight more gated timings per model, each with its own run-to-run noise (12 % sd of log,
    as one timing moves on the 2-core VM), `slowed`'s made `factor` slower."""
    rng = np.random.default_rng(seed)
    for template in [r for r in document["results"] if r["metric"] == "ttft_seconds"]:
        for length in range(8):
            value = 0.01 * math.exp(rng.normal(0, 0.12)) * (
                factor if template["model"] == slowed else 1.0)  # fmt: skip
            document["results"].append({
                **template, "bench": "cache_cost", "metric": "position_step_seconds",
                "params": {"length": length}, "value": value, "samples": [value],
                "rounds": [value],
            })  # fmt: skip
    return document


def test_a_model_slower_in_every_timing_fails_with_its_family_where_no_timing_alone_can():
    """Each timing alone moves 12 % from run to run: 1.3x in one run is not significant for
    any of them, but a model's ten timings together are."""
    base = combined([with_independent_timings(make_report(s), s) for s in range(11, 16)])
    slowed = with_independent_timings(make_report(2), 2, slowed="gpt2")
    result = run_gate(base, slowed)
    families = {verdict.family: verdict for verdict in result.comparison.families}
    assert families["gpt2"].worse and not families["gpt2-medium"].worse
    assert families["gpt2"].adjusted_p <= 0.025
    failing = result.failures
    assert set(failing["model"]) == {"gpt2"}
    assert failing["note"].str.contains("worse with its model family").any()
    assert "model family gpt2: its 10 gated timings are" in result.message()
    one_stored_run = run_gate(make_report(11), slowed).comparison
    assert one_stored_run.families == [], "one stored run has no family spread"
    same = run_gate(base, with_independent_timings(make_report(3), 3))
    assert same.passed, same.message()
    assert "2 model families (each model's timings" in same.message()


def test_a_new_side_of_several_runs_is_judged_as_their_median(tmp_path, capsys):
    from lmgauge.cli.main import main
    from lmgauge.record.report import write_atomic

    for seed in range(11, 16):
        write_atomic(make_report(seed), tmp_path / "base" / f"{seed}.json")
    for seed in range(1, 4):
        write_atomic(make_report(seed, slowdown=1.25), tmp_path / "new" / f"{seed}.json")
    assert main(["gate", str(tmp_path / "base"), str(tmp_path / "new")]) == 1
    output = capsys.readouterr().out
    assert "against 5 base runs (the new side: the median of 3 runs)" in output
    for seed in range(1, 4):
        write_atomic(make_report(seed), tmp_path / "new" / f"{seed}.json")
    assert main(["gate", str(tmp_path / "base"), str(tmp_path / "new")]) == 0


def test_a_new_side_of_several_runs_fails_when_any_of_them_is_incomplete():
    """The median of three runs hides neither a run that did not finish nor a figure that one
    of them lacks, whatever the order of the runs."""
    from lmgauge.judge.spread import combined

    base = combined([make_report(seed) for seed in range(11, 16)])
    runs = [make_report(seed) for seed in range(1, 4)]
    assert run_gate(base, combined(runs)).passed
    killed = [*runs[:2], {**runs[2], "run": {**runs[2]["run"], "status": "interrupted"}}]
    for order in (killed, killed[::-1]):
        result = run_gate(base, combined(order))
        assert not result.passed and "status interrupted" in result.message()
    gone = {**runs[1], "results": [r for r in runs[1]["results"]
                                   if not (r["metric"] == "ttft_seconds" and r["model"] == "gpt2")]}
    result = run_gate(base, combined([runs[0], gone, runs[2]]))
    assert not result.passed
    assert "missing, not a finite number, or a timing of zero or less in 1 of the 3 new runs" \
        in result.message()
    broken = copy.deepcopy(runs[1])  # found by review: a median over runs hid a zero timing
    next(r for r in broken["results"] if r["metric"] == "ttft_seconds")["value"] = 0.0
    result = run_gate(base, combined([runs[0], broken, runs[2]]))
    assert not result.passed and "timing of zero or less in 1 of the 3" in result.message()


def test_a_folder_mixing_units_or_holding_an_unfinished_base_run_is_refused(tmp_path):
    """Found by review: a base folder with one run in ms took a median over s and ms, its
    spread ballooned and a 4x slowdown passed; a recovered killed run counted as a base run."""
    from lmgauge.errors import ReportError
    from lmgauge.judge.run_folder import read_baseline
    from lmgauge.record.report import write_atomic

    for seed in range(4):
        write_atomic(make_report(seed), tmp_path / "mixed" / f"{seed}.json")
    in_ms = make_report(9)
    step = next(r for r in in_ms["results"] if r["metric"] == "decode_step_seconds")
    step.update(unit="ms", value=step["value"] * 1000)
    write_atomic(in_ms, tmp_path / "mixed" / "9.json")
    with pytest.raises(ReportError, match=r"mixes units: 0.json records decode_step_seconds of "
                       r"gpt2 .* in 's' \(lower\), 9.json in 'ms' \(lower\)"):  # fmt: skip
        read_baseline(tmp_path / "mixed")
    killed = make_report(9)
    killed["run"].update(status="killed", exit_status=None)
    write_atomic(killed, tmp_path / "mixed" / "9.json")
    with pytest.raises(ReportError, match=r"holds a run that did not finish \(9.json: status "
                       r"killed\)"):  # fmt: skip
        read_baseline(tmp_path / "mixed")
    assert read_baseline(tmp_path / "mixed", role="new side").document["run"]["status"] == "killed"


def test_a_busy_flag_on_one_of_several_new_runs_excuses_nothing():
    from lmgauge.judge.spread import combined

    base = combined([make_report(seed) for seed in range(11, 16)])
    runs = [make_report(1, slowdown=1.3, busy=True), *[make_report(s, slowdown=1.3)
                                                       for s in (2, 3)]]  # fmt: skip
    for order in (runs, runs[::-1]):
        row = compare(base, combined(order), RULES).rows.query(
            "metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]  # fmt: skip
        assert row.verdict == "worse" and "busy" not in row.note


def test_a_busy_base_run_is_left_out_of_the_base_and_cannot_hide_a_slowdown(tmp_path):
    """Found by a new-user trial: one base run caught by a busy neighbour (40x slower) inflated
    the folder's spread until a 4.9x slowdown passed as "too noisy". Its busy values now stay
    out of the base's medians and spreads, and the verdict says so; a new side's do not."""
    from lmgauge.judge.run_folder import read_baseline
    from lmgauge.record.report import write_atomic

    for seed in range(11, 16):
        write_atomic(make_report(seed), tmp_path / "base" / f"{seed}.json")
    write_atomic(make_report(16, slowdown=40.0, busy=True), tmp_path / "base" / "16.json")
    base = read_baseline(tmp_path / "base")
    assert base.runs == 6 and base.busy_left_out == 8
    result = run_gate(base, make_report(2, slowdown=4.9))
    assert not result.passed
    assert "base: 8 figure values that base runs measured while the machine was busy were " \
           "left out of the base's medians, spreads and model families" in result.message()
    assert run_gate(base, make_report(2)).passed
    as_new_side = read_baseline(tmp_path / "base", role="new side")
    assert as_new_side.busy_left_out == 0
    assert set(base.counts.values()) == {5, 6}  # the accuracy has no busy flag
    assert set(as_new_side.counts.values()) == {6}
    assert run_gate(as_new_side, make_report(2, slowdown=4.9)).passed  # what the trial saw
    all_busy = combined([make_report(s, busy=True) for s in range(11, 16)], leave_out_busy=True)
    assert all_busy.busy_left_out == 0 and all_busy.busy_everywhere == 8
    assert "base: 8 figures every base run measured while busy (gated timings among them are " \
           "not judged, and fail)" in run_gate(all_busy, make_report(2)).message()


def test_a_worse_family_fails_the_gate_even_with_no_timing_beyond_its_own_tolerance():
    """Ten timings each 1.2x slower (inside their ±25 %): the model is worse together."""
    base = combined([with_independent_timings(make_report(s), s) for s in range(11, 16)])
    slowed = with_independent_timings(make_report(2, slowdown=1.2), 2, slowed="gpt2", factor=1.2)
    result = run_gate(base, slowed)
    families = {verdict.family: verdict for verdict in result.comparison.families}
    assert families["gpt2"].worse, families
    assert not result.passed
    assert "model family gpt2: its 10 gated timings are" in result.message()
    assert "beyond the ±10 % family tolerance" in result.message()


def test_a_family_beyond_its_tolerance_but_not_significant_passes_and_says_it_is_not_cleared():
    """A stored gate has no run to add: a model 1.15x slower against base runs that moved
    0.8-1.25x passes, and the PASS names the family instead of reading as cleared."""
    machines = (0.8, 1.0, 1.25, 0.9, 1.1)
    base = combined([make_report(seed, machine=m)
                     for seed, m in zip(range(11, 16), machines, strict=True)])
    result = run_gate(base, make_report(2, slowdown=1.15))
    unresolved = [verdict for verdict in result.comparison.families if verdict.unresolved]
    assert result.passed and unresolved, result.message()
    assert f"model family {unresolved[0].family}: its" in result.message()
    assert "not significant, so passed, not cleared; more runs on each side would tell" \
        in result.message()
    assert "not cleared" not in run_gate(base, make_report(3)).message()


def test_a_busy_base_run_drops_out_of_the_model_family_not_the_family_s_timings():
    """Found by review: a busy base run's values, left out as nan, took every timing of the
    busy bench out of its family, so a model 1.2x slower in every timing passed."""
    runs = [with_independent_timings(make_report(s), s) for s in range(11, 16)]
    runs.append(with_independent_timings(make_report(16, busy=True), 16))
    base = combined(runs, leave_out_busy=True)
    slowed = with_independent_timings(make_report(2, slowdown=1.2), 2, slowed="gpt2", factor=1.2)
    result = run_gate(base, slowed)
    families = {verdict.family: verdict for verdict in result.comparison.families}
    assert families["gpt2"].worse and families["gpt2"].figures == 10, families
    assert families["gpt2"].pairs == 5  # the five calm base runs
    assert not result.passed
    staggered = [with_independent_timings(make_report(s), s) for s in range(11, 17)]
    for index, run in enumerate(staggered):  # a different timing of gpt2 busy in each run
        steps = [r for r in run["results"]
                 if r["model"] == "gpt2" and r["metric"] == "position_step_seconds"]  # fmt: skip
        steps[index]["flags"] = ["busy"]
    result = run_gate(combined(staggered, leave_out_busy=True), slowed)
    families = {verdict.family: verdict for verdict in result.comparison.families}
    assert families["gpt2"].worse and families["gpt2"].figures == 10, families
    assert families["gpt2"].pairs == 6 and not result.passed


def test_a_gate_that_judged_nothing_fails():
    base, new = make_report(1), make_report(2)
    for document in (base, new):
        document["results"] = [r for r in document["results"] if r["metric"] == "baseline_f1"]
    result = run_gate(base, new)
    assert not result.passed and "a gate that compared nothing fails" in result.message()


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
    assert "machines differ" in render(comparison)
    assert not result.passed, "a raw time on another machine is not judged, and fails the gate"
    assert "machines differ: CPU model: AMD EPYC -> Intel Xeon" in result.message()


def with_efficiency(document: dict, value: float, metric="decode_roofline_efficiency") -> dict:
    document["results"].append({**document["results"][0], "metric": metric,
                                "unit": "ratio", "direction": "higher", "value": value,
                                "samples": [], "rounds": [], "probe_seconds": []})  # fmt: skip
    return document


def test_an_efficiency_across_machines_is_same_within_the_roofs_own_spread():
    """One calibration's memory roof moves 12.5 % (sd of log) from run to run on one machine, so
    an efficiency 1.25x higher on another machine says nothing; 2x still shows."""
    other = {**ENVIRONMENT, "cpu_model": "Intel Xeon"}
    close = compare(with_efficiency(make_report(1), 0.28),
                    with_efficiency(make_report(2, environment=other), 0.35), RULES)  # fmt: skip
    row = close.rows.query("metric == 'decode_roofline_efficiency'").iloc[0]
    assert (row.verdict, row.tolerance) == ("same", "±41 %")
    far = compare(with_efficiency(make_report(1), 0.28),
                  with_efficiency(make_report(2, environment=other), 0.56), RULES)  # fmt: skip
    assert verdicts(far)["gpt2", "decode_roofline_efficiency"] == "better"
    here = compare(with_efficiency(make_report(1), 0.28),
                   with_efficiency(make_report(2), 0.35), RULES)  # fmt: skip
    assert verdicts(here)["gpt2", "decode_roofline_efficiency"] == "better", "one machine: ±15 %"
    prefill = "prefill_roofline_efficiency"
    compute = compare(with_efficiency(make_report(1), 0.28, prefill),
                      with_efficiency(make_report(2, environment=other), 0.45, prefill), RULES)
    row = compute.rows.query(f"metric == '{prefill}'").iloc[0]
    assert (row.verdict, row.tolerance) == ("same", "±79 %"), "the compute roof moves more"


def test_fewer_threads_is_a_setup_difference_whose_slowdown_fails_the_gate():
    result = run_gate(make_report(1), make_report(2, slowdown=1.8, threads=1, matmul=0.7e11))
    assert result.comparison.setup == ["threads: 2 -> 1"]
    assert not result.passed


def test_other_round_settings_are_named_as_a_setup_difference():
    """Found by review: two runs taken with other --rounds, --round-budget or --round-width
    were compared without saying so."""
    new = make_report(2)
    new["run"]["options"].update(rounds=2, round_budget_s=0.0, round_width=0.05)
    base = make_report(1)
    base["run"]["options"].update(rounds=5, round_budget_s=10.0, round_width=0.1111)
    assert compare(base, new, RULES).setup == [
        "fewest rounds (--rounds): 5 -> 2",
        "round budget in s (--round-budget): 10 -> 0",
        "round stop width (--round-width): 0.1111 -> 0.05",
    ]
    from lmgauge.judge.drift import hardware_differences, setup_differences

    quota = setup_differences({"environment": {"cpu_quota": 2.0}},
                              {"environment": {"cpu_quota": None}})  # fmt: skip
    assert quota == ["CPU quota (cgroup): 2 -> none"], "a recorded null is not 'not recorded'"
    assert hardware_differences({"environment": {"gpu": None}}, {"environment": {}}) == [
        "GPU: none -> not recorded"]  # fmt: skip
    close = setup_differences({"run": {"options": {"round_width": 0.05}}},
                              {"run": {"options": {"round_width": 0.0500004}}})  # fmt: skip
    assert close == ["round stop width (--round-width): 0.05 -> 0.0500004"], (
        "two values that round alike are shown in full")  # fmt: skip
    new = make_report(1)
    new["run"]["options"]["round_budget_s"] = 5.0
    result = run_gate(base, new)
    assert result.passed, result.message()
    assert "setup differs: round budget in s (--round-budget): 10 -> 5" in result.message(), (
        "a gate that passes names what differed too")  # fmt: skip
    del new["run"]["options"]["rounds"]  # found by a new-user trial: it passed
    result = run_gate(base, new)
    assert not result.passed and ("the new run's report does not say how many --rounds it was "
                                  "made with") in result.message()  # fmt: skip


def without_probes(document: dict) -> dict:
    for result in document["results"]:
        result["probe_seconds"] = []
    return document


def probe_free_baseline():
    return combined([without_probes(make_report(seed)) for seed in range(11, 16)])


def test_calibrated_roofs_excuse_only_runs_without_probes_and_only_up_to_the_limit():
    drifted = make_report(2, slowdown=1.3, matmul=1.0e11)
    comparison = compare(baseline(), drifted, RULES)
    assert comparison.drift == ["matmul FLOP/s 1.4e+11 -> 1e+11 between the runs"]
    assert verdicts(comparison)["gpt2", "decode_step_seconds"] == "worse", (
        "probes say: same machine"
    )
    old = compare(probe_free_baseline(), without_probes(drifted), RULES)
    row = old.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.verdict == "too noisy" and "calibrated speed fell in the new run" in row.note
    faster_machine = make_report(2, slowdown=1.3, matmul=2e11)
    old = compare(probe_free_baseline(), without_probes(faster_machine), RULES)
    assert verdicts(old)["gpt2", "decode_step_seconds"] == "worse"
    beyond = without_probes(make_report(2, slowdown=2.0, matmul=1.0e11))
    old = compare(probe_free_baseline(), beyond, RULES)
    assert verdicts(old)["gpt2", "decode_step_seconds"] == "worse"


def test_a_figure_missing_for_a_benched_model_fails_the_gate():
    new = make_report(2)
    new["results"] = [r for r in new["results"] if r["metric"] != "ttft_seconds"]
    result = run_gate(make_report(1), new)
    assert set(result.failures["verdict"]) == {"only in base"}
    assert math.isnan(result.failures.iloc[0]["new"])


def test_a_model_missing_from_the_new_run_is_one_line_with_its_count():
    new = make_report(2)
    new["results"] = [r for r in new["results"] if r["model"] != "gpt2-medium"]
    message = run_gate(make_report(1), new).message()
    assert "FAILED" in message
    assert ("gpt2-medium: all 4 gated figures missing from the new run (the subject did not "
            "run there") in message
    assert "gpt2-medium decode_step_seconds" not in message


def test_a_configuration_missing_from_the_new_run_is_one_line_too():
    base = make_report(1)
    base["results"] += [{**r, "params": {**r["params"], "config": "int8"}}
                        for r in base["results"] if r["model"] == "gpt2"]  # fmt: skip
    message = run_gate(base, make_report(2)).message()
    assert "gpt2@int8: all 5 gated figures missing from the new run" in message
    assert "gpt2 decode_step_seconds" not in message and "gpt2-medium:" not in message


@pytest.mark.parametrize("form", ["text", "markdown", "csv"])
def test_every_format_renders(form):
    text = render(compare(make_report(1), make_report(2, slowdown=1.6), RULES), form)
    assert "decode_step_seconds" in text and "x slower" in text


def throughput(document: dict) -> dict:
    """The report with its decode step turned into decode tokens/s (1 / step)."""
    for result in document["results"]:
        if result["metric"] == "decode_step_seconds":
            result.update(metric="decode_tokens_per_second", unit="tokens/s", direction="higher",
                          value=1 / result["value"],
                          rounds=[1 / v for v in result["rounds"]])  # fmt: skip
    return document


def test_the_probe_normalises_throughputs_the_way_it_normalises_times():
    base = combined([throughput(make_report(seed)) for seed in range(11, 16)])
    drifted = compare(base, throughput(make_report(2, machine=1.35)), RULES)
    row = drifted.rows.query("metric == 'decode_tokens_per_second' and model == 'gpt2'").iloc[0]
    assert row.verdict == "same" and row.ratio == pytest.approx(1.0, abs=0.06)
    slower = compare(base, throughput(make_report(2, machine=1.35, slowdown=1.6)), RULES)
    row = slower.rows.query("metric == 'decode_tokens_per_second' and model == 'gpt2'").iloc[0]
    assert row.verdict == "worse" and row.ratio == pytest.approx(1 / 1.6, rel=0.06)


def test_probes_of_another_kind_are_not_divided():
    """A report before format 4 timed a torch probe inside the process under test; a run with
    no in-process bench (served models only) has no probe."""
    new = make_report(2, machine=1.35)
    del new["run"]["speed_probe"]
    comparison = compare(baseline(), new, RULES)
    (line,) = [line for line in comparison.drift if "speed probes differ" in line]
    assert "no probe recorded" in line
    new["results"] = [{**r, "metric": f"served_{r['metric']}"} for r in new["results"]]
    (line,) = [line for line in compare(baseline(), new, RULES).drift if "probes" in line]
    assert "nothing was timed in process" in line
    assert not [line for line in compare(new, new, RULES).drift if "probes" in line]
    no_probe = make_report(3)
    del no_probe["run"]["speed_probe"]
    (line,) = [line for line in compare(no_probe, no_probe, RULES).drift if "probe" in line]
    assert line.startswith("neither run has a speed probe (no probe recorded") and "->" not in line
    row = comparison.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert "speed probe" not in row.note and row.raw_ratio == row.ratio


def test_machines_that_differ_judge_no_timing_and_a_timing_only_gate_fails():
    other = {**ENVIRONMENT, "cpu_model": "Intel Xeon"}
    base, new = make_report(1), make_report(2, environment=other)
    for document in (base, new):
        document["results"] = [r for r in document["results"] if r["unit"] == "s"]
    result = run_gate(base, new)
    assert result.comparison.judged() == 0 and not result.passed


def test_identical_base_runs_do_not_make_every_change_infinitely_significant():
    same = make_report(11)
    comparison = compare(combined([same, same, same]), make_report(11), RULES)
    assert set(comparison.rows["verdict"]) == {"same"}


def test_a_probe_that_happens_to_be_fast_never_makes_a_regression():
    """Same code, the probe (alone) 1.4x faster in the new run: normalising both ways would
    call the run 1.4x slower; with spreads of raw values the probe is an excuse only."""
    new = make_report(2)
    for result in new["results"]:
        result["probe_seconds"] = [p / 1.4 for p in result["probe_seconds"]]
    found = verdicts(compare(baseline(), new, RULES))
    assert found["gpt2", "decode_step_seconds"] == "same"


def test_a_baseline_whose_runs_agree_better_in_probe_units_is_normalised_both_ways():
    """Base runs on a machine whose speed moved run to run (the probe moved with it): the
    spread in probe units is the smaller, and a new run is judged in probe units."""
    speeds = [1.0, 1.2, 0.9, 1.15, 0.95]
    runs = zip(range(11, 16), speeds, strict=True)
    base = combined([make_report(seed, machine=m) for seed, m in runs])
    key = next(k for k in base.spreads if k[0] == "gpt2" and k[2] == "decode_step_seconds")
    assert base.spreads[key].normalised and "speed-probe units" in base.spreads[key].source
    faster_machine = compare(base, make_report(2, machine=0.8, slowdown=1.3), RULES)
    row = faster_machine.rows.query("metric == 'decode_step_seconds' and model == 'gpt2'").iloc[0]
    assert row.verdict == "worse" and row.ratio == pytest.approx(1.3, rel=0.08)
    assert "normalised by the speed probe" in row.note


def test_a_run_whose_timings_took_no_probe_says_so_in_the_probe_line():
    from lmgauge.judge.compare import describe_probe

    document = make_report(1)
    document["run"]["speed_probe"] = None
    assert describe_probe(document).startswith("no probe recorded: its timed benches took none")


def test_roofs_measured_in_another_dtype_are_not_a_machine_that_moved():
    """A bfloat16 matmul roof (1.68 TFLOP/s with AMX) against a float32 one (0.22) is the dtype,
    not a faster machine, and must not excuse or explain anything."""
    from lmgauge.judge.drift import speed_drift

    roofs = {"device": "cpu", "dtype": "float32", "threads": 2, "matmul_flops_per_s": 2.2e11,
             "bandwidth_bytes_per_s": 3e10}  # fmt: skip
    base = {"calibration": roofs}
    other_dtype = {"calibration": {**roofs, "dtype": "bfloat16", "matmul_flops_per_s": 1.68e12}}
    assert speed_drift(base, other_dtype).lines == ()
    assert speed_drift(other_dtype, base) == speed_drift(base, other_dtype)
    slower = speed_drift(base, {"calibration": {**roofs, "matmul_flops_per_s": 1.5e11}})
    assert slower.slower_in_new and slower.lines


def test_a_pass_says_where_its_spreads_came_from_and_names_what_was_too_noisy():
    """Found by review: a PASS said neither, so a 1.35x slowdown within one run's noise read as
    cleared."""
    result = run_gate(make_report(1), make_report(2, slowdown=1.35))
    assert result.passed
    message = result.message()
    assert "(gate.toml's stated spreads: a spread is estimated from 5 base runs)" in message
    assert "gated figures moved beyond tolerance the worse way within their run-to-run noise " \
           "(too noisy), the largest decode_step_seconds of gpt2" in message
    assert "too noisy" not in run_gate(make_report(1), make_report(2)).message()


def test_too_noisy_reads_the_worse_way_from_the_values_not_a_blank_ratio():
    """Found by review: the worse way came from the ratio, so a figure that rose across zero
    (ratio nan, direction "higher") was named as moved the worse way."""
    import pandas as pd

    from lmgauge.judge.gate import noisy_lines
    from lmgauge.judge.verdicts import NOISY

    def row(model, base, new, direction, change):
        return {"model": model, "metric": "m", "verdict": NOISY, "gated": True, "base": base,
                "new": new, "direction": direction, "ratio": math.nan, "change": change}

    better = pd.DataFrame([row("a", -0.2, 0.1, "higher", "+0.3")])
    assert noisy_lines(better) == []
    rows = pd.DataFrame([row("a", -0.2, -0.5, "higher", "-0.3"),
                         row("b", 1.0, 1.2, "lower", "1.2x slower"),
                         row("c", 0.1, 0.2, "higher", "+0.1")])  # fmt: skip
    (line,) = noisy_lines(rows)
    assert line.startswith("  2 gated figures moved") and "the largest m of a (-0.3)" in line


@pytest.mark.parametrize("form", ["text", "markdown"])
def test_text_and_markdown_say_why_a_figure_was_not_comparable(form):
    """Found by a new-user pass: a figure whose direction changed read "not comparable" with
    its reason only in the CSV's note column."""
    base, new = make_report(1), make_report(2)
    for result in new["results"]:
        if result["metric"] == "parameters_total":
            result["direction"] = "higher"
    text = render(compare(base, new, RULES), form)
    assert "not comparable, and why:" in text
    assert "its direction changed from 'exact' to 'higher'" in text and "parameters_total" in text
    assert "and why" not in render(compare(base, make_report(2), RULES), form)


def test_holm_keeps_a_p_that_is_not_a_number_out_of_the_order_but_in_the_family():
    """A NaN p made `sorted` order the family arbitrarily, so later p could read 1."""
    adjusted = holm([0.01, math.nan, 0.02])
    assert math.isnan(adjusted[1])
    assert adjusted[0] == pytest.approx(0.03) and adjusted[2] == pytest.approx(0.04)


def test_tests_not_run_in_new_are_few_lines_and_only_when_every_new_run_lists_its_tests():
    """Found by review: a new folder mixing an older report (no passed list) with a newer one
    read every test of the base as not run, and a run of fewer models got a line per test."""
    base = make_report(1)
    base["tests"] = {"not_passed": [], "passed": [f"b.py::t[{i}]" for i in range(8)]}
    newer, older = make_report(2), make_report(3)
    newer["tests"] = {"not_passed": [], "passed": ["b.py::t[0]"]}
    older["tests"] = {"not_passed": []}
    mixed = run_gate(base, combined([newer, older]))
    assert not mixed.passed, "an older new run cannot show it, so it is not judged: it fails"
    assert not mixed.comparison.tests and (
        mixed.comparison.unfinished.startswith("a new run does not list"))
    lines = run_gate(base, newer).comparison.tests
    first = ("b.py::t[1]: not run in new, passed in base (deselected, its model left out, or "
             "its file did not collect)")
    assert len(lines) == 5 and lines[0] == first
    assert lines[-1].endswith("and 2 more tests like it")
    newer["run"]["status"] = "killed"
    killed = run_gate(base, newer)
    assert not killed.passed and killed.comparison.tests == [], "the unfinished run says it all"
    base["tests"]["passed"], newer["tests"]["passed"] = [], []
    newer["run"]["status"] = "passed"
    assert run_gate(combined([base, make_report(4)]), newer).passed, "an empty list is a list"


def test_a_family_whose_p_is_not_a_number_is_undecided_not_passed(monkeypatch):
    """Found by review: with Holm keeping a NaN p, `adjusted_p > alpha` read False, and a family
    beyond the tolerance was neither worse nor undecided."""
    from lmgauge.judge import family

    monkeypatch.setattr(family, "yuen", lambda mean: (float(np.mean(mean)), math.nan))
    row = {"gated": True, "unit": "s", "base_runs": [1.0] * 5, "new_runs": [1.5] * 5,
           "model": "m", "params": {}, "direction": "lower"}  # fmt: skip
    (verdict,) = family.family_verdicts([row], alpha=0.05, tolerance=0.10)
    assert not verdict.worse and verdict.borderline


def test_an_unknown_outcome_or_a_failed_run_without_a_failing_test_fails_the_gate():
    """Found by a new-user trial: an outcome other than pytest's ("xfailed", hand-written) and a
    run whose status is failed with no failing test listed both passed."""
    base, new = make_report(1), make_report(2)
    new["tests"]["not_passed"] = [{"test": "b.py::t", "outcome": "weird", "when": "call"}]
    result = run_gate(base, new)
    assert not result.passed and "b.py::t: weird in call" in result.message()
    new["tests"]["not_passed"] = []
    new["run"]["status"], new["run"]["exit_status"] = "failed", 1
    result = run_gate(base, new)
    assert not result.passed and "lists no failing test" in result.message()
    assert not run_gate(base, combined([make_report(3), new])).passed, "a later run of a folder"
    new["tests"]["not_passed"] = [{"test": "b.py::t", "outcome": "failed", "when": "call"}]
    assert "lists no failing test" not in run_gate(base, new).message(), "explained by its test"


def test_a_run_made_with_fewer_than_three_rounds_fails_the_stored_gate():
    """Found by a new-user trial: `pytest --gate` refused --rounds 2, `lmgauge gate` passed a
    report made with --rounds 1."""
    base, new = make_report(1), make_report(2)
    new["run"]["options"]["rounds"] = 1
    result = run_gate(base, new)
    assert not result.passed and "the new run was made with --rounds 1" in result.message()
    new["run"]["options"]["rounds"] = 3
    assert run_gate(base, new).passed


def test_a_direction_other_than_the_catalogues_is_not_comparable():
    """Found by a new-user trial: both reports edited to call decode_step_seconds "higher" is
    better turned a 3x slowdown into a pass."""
    base, new = make_report(1), make_report(2, slowdown=3.0)
    for document in (base, new):
        for result in document["results"]:
            if result["metric"] == "decode_step_seconds":
                result["direction"] = "higher"
    result = run_gate(base, new)
    assert not result.passed and "lmgauge's catalogue 'lower'" in result.message()


def test_a_count_off_by_one_shows_in_the_verdict_line():
    """Found by a new-user trial: '1.245e+08 -> 1.245e+08 count (changed: 1x more)' hid it."""
    base, new = make_report(1), make_report(2)
    for result in new["results"]:
        if result["metric"] == "parameters_total" and result["model"] == "gpt2":
            before = int(result["value"])
            result["value"] = before + 1
    message = run_gate(base, new).message()
    assert f"{before} -> {before + 1} count" in message and "+1" in message
