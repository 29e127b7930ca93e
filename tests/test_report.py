"""The run report: atomic writes, and one clear sentence for every kind of bad file."""

import json
import math
import os
from datetime import datetime, timezone

import pytest

from lmgauge.errors import ReportError
from lmgauge.record.recording import RunRecorder
from lmgauge.record.report import (
    SCHEMA_VERSION,
    Result,
    read_report,
    report_filename,
    validate,
    write_atomic,
)


def sample_document() -> dict:
    recorder = RunRecorder({"models": ["gpt2"]})
    recorder.record("params", "gpt2", "parameters_total", 124_439_808, test="t")
    recorder.model_loaded("gpt2", {"name": "gpt2", "weights": "synthetic"})
    return recorder.document(
        environment={"cpu_model": "x"}, status="passed", exit_status=0, extra_run={}
    )


def test_document_round_trips_with_units_and_meanings(tmp_path):
    path = write_atomic(sample_document(), tmp_path / "r.json")
    document = read_report(path)
    assert document["schema_version"] == SCHEMA_VERSION
    (result,) = document["results"]
    assert result["unit"] == "count" and result["direction"] == "exact"
    assert "tied weights counted once" in document["metrics"]["parameters_total"]["meaning"]
    assert document["models"]["gpt2"]["load_count"] == 1


def test_interrupted_write_keeps_the_old_report_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = write_atomic({"format": "old"}, tmp_path / "r.json")

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(sample_document(), path)
    assert json.loads(path.read_text()) == {"format": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"format": "lmgauge-run-report", "schema_version": 1, "run"', "not valid JSON"),
        ('{"results": []}', "not an lmgauge run report"),
        ('{"format": "lmgauge-run-report", "schema_version": 99}', "schema_version 99"),
        ('{"format": "lmgauge-run-report", "schema_version": "4"}', "'4'; lmgauge writes it as"),
        ('{"format": "lmgauge-run-report", "schema_version": 4.0}', r"4\.0; .*\(4, not 4\.0"),
        ('{"format": "lmgauge-run-report", "schema_version": 1, "run": {}}', "lacks the section"),
    ],
)
def test_bad_reports_say_what_is_wrong(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=expected):
        read_report(path)


@pytest.mark.parametrize("rounds", ["2", 2.5, 2.0, None, 0, True])
def test_a_run_whose_rounds_are_not_a_count_is_refused(tmp_path, rounds):
    """Found by a new-user trial: a hand-edited --rounds of "2", 2.5 or null in the report
    read as "not stated", so the gate's check against fewer than 3 rounds passed it by."""
    document = sample_document()
    document["run"]["options"]["rounds"] = rounds
    path = write_atomic(document, tmp_path / "r.json")
    with pytest.raises(ReportError, match="run/options/rounds: "):
        read_report(path)


def test_an_unlimited_round_budget_is_written_as_null_and_reads_back(tmp_path):
    """Found by review: `--round-budget inf` is written as null, which the options' schema
    first refused, so such a run's own report did not load."""
    document = sample_document()
    document["run"]["options"].update(rounds=5, round_budget_s=math.inf)
    assert read_report(write_atomic(document, tmp_path / "r.json"))["run"]["options"] == {
        **document["run"]["options"], "round_budget_s": None}  # fmt: skip


def passed_and_failed_document() -> dict:
    recorder = RunRecorder({"models": ["gpt2"]})
    recorder.outcome("b.py::ok", "passed", "call", "", False)
    recorder.outcome("b.py::broken", "failed", "call", "boom", False)
    return recorder.document(environment={}, status="failed", exit_status=1, extra_run={})


@pytest.mark.parametrize(("edit", "says"), [
    (lambda d: d["tests"]["counts"].update(failed=2), "says 2 failed but tests/not_passed lists 1"),
    (lambda d: d["tests"]["counts"].pop("failed"), "says 0 failed but tests/not_passed lists 1"),
    (lambda d: d["tests"]["not_passed"].clear(), "says 1 failed but tests/not_passed lists 0"),
    (lambda d: d["tests"]["counts"].update(error=1), "says 1 error but tests/not_passed lists 0"),
    (lambda d: d["tests"]["passed"].append("b.py::x"), "says 1 passed but tests/passed names 2"),
    (lambda d: d["tests"]["passed"].clear(), "says 1 passed but tests/passed names 0"),
    (lambda d: d["tests"].pop("counts"), "tests/counts is missing"),
    (lambda d: d["tests"]["counts"].update(failed=-1), "tests/counts is missing or not a count"),
    (lambda d: d["run"].update(status="passed"), "says 'passed' with pytest exit status 1, "
                                                 "where lmgauge writes 'failed'"),
    (lambda d: d["run"].update(status="killed"), "says 'killed' with pytest exit status 1"),
    (lambda d: d["run"].update(exit_status=None), "says 'failed' with pytest exit status None"),
    (lambda d: d.pop("tests"), "it has no tests section"),
    (lambda d: d["run"].pop("exit_status"), "run/exit_status is missing"),
    (lambda d: d["run"].update(status="passed", exit_status=0), "says passed, yet counts 1 failed"),
])  # fmt: skip
def test_a_report_whose_tests_contradict_each_other_is_refused(tmp_path, edit, says):
    """Found by review: a report counting a failure it does not list, or listing one it does
    not count, or saying passed with exit status 1, was judged; in a base folder, or with its
    counts deleted, it was not even checked."""
    document = passed_and_failed_document()
    assert read_report(write_atomic(document, tmp_path / "fine.json"))
    edit(document)
    with pytest.raises(ReportError, match=f"bad.json: .*{says}.*edited"):
        read_report(write_atomic(document, tmp_path / "bad.json"))


def test_a_test_id_that_passes_more_than_once_is_not_a_contradiction(tmp_path):
    """Found by review: with pytest's subtests (or --keep-duplicates) one test id passes more
    than once, and lmgauge refused its own report."""
    recorder = RunRecorder({"models": ["gpt2"]})
    for _ in range(3):
        recorder.outcome("b.py::subtested", "passed", "call", "", False)
    document = recorder.document(environment={}, status="passed", exit_status=0, extra_run={})
    assert document["tests"]["counts"]["passed"] == 3 and len(document["tests"]["passed"]) == 1
    assert read_report(write_atomic(document, tmp_path / "r.json"))


def test_a_recovered_report_without_an_exit_status_reads():
    document = passed_and_failed_document()
    document["run"].update(status="killed", exit_status=None)
    assert validate(document)["run"]["status"] == "killed"


def test_result_missing_fields_and_missing_file(tmp_path):
    document = sample_document()
    del document["results"][0]["unit"]
    path = write_atomic(document, tmp_path / "r.json")
    with pytest.raises(ReportError, match="results/0: 'unit' is a required property"):
        read_report(path)
    with pytest.raises(ReportError, match="cannot read report"):
        read_report(tmp_path / "absent.json")


def test_results_need_a_known_direction_and_a_unit():
    with pytest.raises(ValueError):
        Result("b", "m", "x", 1, unit="s", direction="sideways")
    with pytest.raises(ValueError):
        Result("b", "m", "x", 1, unit="", direction="lower")


def test_unknown_metrics_are_refused():
    with pytest.raises(KeyError, match="not in the catalogue"):
        RunRecorder({}).record("b", "m", "speed_of_light", 1)


def test_a_figure_recorded_twice_in_one_run_is_refused_and_a_report_holding_one_is_not_judged():
    """Found by review: a bench parametrized over seq_len that recorded without it gave two
    results one name, and every judge took the last one, never seeing the first."""
    from lmgauge.judge.keys import indexed

    recorder = RunRecorder({"models": ["gpt2"]})
    recorder.record("forward", "gpt2", "forward_seconds", 0.5, seq_len=16)
    recorder.record("forward", "gpt2", "forward_seconds", 0.9, seq_len=128)
    with pytest.raises(ValueError, match=r"forward_seconds of gpt2 \(seq_len=16\) is already "
                       r"recorded in this run"):  # fmt: skip
        recorder.record("forward", "gpt2", "forward_seconds", 0.6, seq_len=16)
    document = recorder.document(environment={}, status="passed", exit_status=0, extra_run={})
    assert len(indexed(document)) == 2
    document["results"].append({**document["results"][0], "value": 0.7})
    with pytest.raises(ReportError, match=r"holds forward_seconds of gpt2 \(seq_len=16\) twice "
                       r"\(values 0.5 and 0.7\)"):  # fmt: skip
        indexed(document)


def test_report_filename_is_sortable_and_safe():
    moment = datetime(2026, 11, 23, 12, 0, 5, tzinfo=timezone.utc)
    assert report_filename(moment, "my run/1") == "20261123T120005Z_my-run-1.json"
    assert report_filename(moment, None) == "20261123T120005Z_run.json"


def old_document(version: int) -> dict:
    """A current document taken back to `version`: the fields later versions added removed."""
    document = sample_document()
    document["schema_version"] = version
    for result in document["results"]:
        for key in ("rounds", "probe_seconds", "stopped"):
            del result[key]
    if version == 1:
        for key in ("texts", "calibration_end"):
            del document[key]
    return document


def test_a_version_1_report_still_loads_as_the_current_version(tmp_path):
    loaded = read_report(write_atomic(old_document(1), tmp_path / "old.json"))
    assert loaded["schema_version"] == SCHEMA_VERSION == 4 and loaded["texts"] == []
    assert loaded["run"]["gate"] is None and loaded["calibration_end"] is None
    assert loaded["results"][0]["rounds"] == []


def test_a_version_2_report_gets_its_decode_steps_back_as_rounds_and_the_rename(tmp_path):
    document = old_document(2)
    steps = [0.05] * 31 + [0.06] * 31 + [0.07] * 31
    for metric, samples in (("decode_step_seconds", steps), ("cold_start_seconds", [1.0])):
        document["results"].append(
            {
                "bench": "generate",
                "model": "gpt2",
                "metric": metric,
                "value": 0.06,
                "unit": "s",
                "direction": "lower",
                "samples": samples,
                "params": {"batch": 1, "prompt_tokens": 128, "new_tokens": 32},
            }  # fmt: skip
        )
    loaded = read_report(write_atomic(document, tmp_path / "v2.json"))
    step, warmup = loaded["results"][1:]
    assert step["rounds"] == [0.05, 0.06, 0.07], "31 steps a round, in order"
    assert warmup["metric"] == "warmup_call_seconds"


def test_a_report_breaking_the_schema_says_where(tmp_path):
    document = sample_document()
    document["results"][0]["value"] = "fast"
    with pytest.raises(ReportError, match="results/0/value: 'fast' is not of type 'number'"):
        read_report(write_atomic(document, tmp_path / "r.json"))


def test_a_malformed_test_outcome_says_where(tmp_path):
    """Found by review: an outcome without `when`, or a not_passed that is not a list, crashed
    the gate with a traceback; the schema now says what a test outcome holds."""
    document = sample_document()
    document["tests"] = {"not_passed": [{"test": "b.py::t", "outcome": "failed"}]}
    with pytest.raises(ReportError, match="tests/not_passed/0: 'when' is a required property"):
        read_report(write_atomic(document, tmp_path / "r.json"))
    document["tests"] = {"not_passed": "b.py::t"}
    with pytest.raises(ReportError, match="tests/not_passed: 'b.py::t' is not of type 'array'"):
        read_report(write_atomic(document, tmp_path / "r.json"))


def test_the_result_dataclass_and_the_schema_name_the_same_fields():
    """One source of truth: a field added to Result must be added to the schema, and back."""
    from dataclasses import MISSING, fields

    from lmgauge.record.report import SCHEMA_FILE, Result

    schema = json.loads(SCHEMA_FILE.read_text())["properties"]["results"]["items"]
    names = {f.name for f in fields(Result)}
    assert set(schema["properties"]) == names
    without_default = {
        f.name for f in fields(Result) if f.default is MISSING and f.default_factory is MISSING
    }
    assert without_default <= set(schema["required"]) <= names


def test_a_non_finite_figure_is_written_as_null_flagged_and_read_back_as_nan(tmp_path):
    recorder = RunRecorder({"models": ["m"]})
    recorder.record("quality", "m", "perplexity", float("nan"), test="t", split="test")
    document = recorder.document(status="passed", exit_status=0, extra_run={}, environment={})
    path = write_atomic(document, tmp_path / "nan.json")
    text = path.read_text()
    assert "NaN" not in text and '"value": null' in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} token"))
    (result,) = read_report(path)["results"]
    assert math.isnan(result["value"]) and result["flags"] == ["non-finite"]


def test_a_version_3_report_with_bare_nan_tokens_still_loads_flagged(tmp_path):
    document = sample_document()
    document["schema_version"] = 3
    document["results"][0]["value"] = float("nan")
    path = tmp_path / "v3.json"
    path.write_text(json.dumps(document))
    assert "NaN" in path.read_text()
    loaded = read_report(path)
    assert loaded["schema_version"] == 4 and "non-finite" in loaded["results"][0]["flags"]
