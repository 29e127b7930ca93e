"""The lmgauge command: one line on stderr and exit status 2 for every user error."""

import pytest

from lmgauge.cli.main import main
from lmgauge.judge.gate import DEFAULT_RULES
from lmgauge.record.report import write_atomic
from tests.test_report import sample_document


def test_show_prints_results(tmp_path, capsys):
    path = write_atomic(sample_document(), tmp_path / "r.json")
    assert main(["show", str(path)]) == 0
    output = capsys.readouterr().out
    assert "parameters_total" in output and "124439808" in output


def test_show_broken_report_is_one_line(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text('{"format": "lmgauge-run-report", "schema_version": 1, "resu')
    assert main(["show", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lmgauge: ") and "not valid JSON" in error
    assert error.count("\n") == 1


def test_show_on_a_file_that_is_not_json_says_so_not_truncated(tmp_path, capsys):
    """Found by a new-user pass: `show reports/costs.md` said the file "may be truncated"."""
    path = tmp_path / "costs.md"
    path.write_text("# Costs\n\n| model | seconds |\n")
    assert main(["show", str(path)]) == 2
    error = capsys.readouterr().err
    assert "is not an lmgauge run report" in error and "does not begin with '{'" in error
    assert "truncated" not in error and error.count("\n") == 1


@pytest.mark.parametrize(("content", "words"), [
    (b"", "is empty, so not a run report"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "is not UTF-8 text"),
])  # fmt: skip
def test_show_on_an_empty_or_binary_file_is_one_sentence(tmp_path, capsys, content, words):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    assert main(["show", str(path)]) == 2
    error = capsys.readouterr().err
    assert words in error and error.count("\n") == 1


def test_two_reports_in_one_file_are_not_called_truncated(tmp_path, capsys):
    report = write_atomic(sample_document(), tmp_path / "x.json").read_text()
    path = tmp_path / "r.json"
    path.write_text(report + report)
    assert main(["show", str(path)]) == 2
    error = capsys.readouterr().err
    assert "holds text after its first JSON document" in error and "truncated" not in error


def test_a_whole_number_too_large_for_a_float_is_one_sentence(tmp_path, capsys):
    """Found by an audit: a value of 10**400 stopped `gate` and `show` with OverflowError."""
    document = sample_document()
    text = write_atomic(document, tmp_path / "x.json").read_text()
    value = document["results"][0]["value"]
    path = tmp_path / "r.json"
    path.write_text(text.replace(f'"value": {value}', '"value": 1' + "0" * 400, 1))
    for command in (["show", str(path)], ["gate", str(tmp_path / "x.json"), str(path)]):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert "holds the whole number 100000000000... (401 digits)" in error
        assert error.count("\n") == 1
    for number, said in (("1" + "0" * 5000, "(5001 digits), too large"),
                         ("1e400", "holds the number 1e400, too large")):  # fmt: skip
        path.write_text(text.replace(f'"value": {value}', f'"value": {number}', 1))
        assert main(["show", str(path)]) == 2
        error = capsys.readouterr().err
        assert said in error and "set_int_max_str_digits" not in error, error


def test_a_report_saved_with_a_byte_order_mark_reads(tmp_path, capsys):
    path = tmp_path / "r.json"
    report = write_atomic(sample_document(), tmp_path / "x.json")
    path.write_bytes(b"\xef\xbb\xbf" + report.read_bytes())
    assert main(["show", str(path)]) == 0


def test_assets_unknown_name_lists_assets_and_models(capsys, cache):
    assert main(["assets", "nothing"]) == 2
    error = capsys.readouterr().err
    assert "'nothing' is neither an asset" in error and "smollm2-135m" in error


def test_assets_list_on_an_empty_cache(capsys, cache):
    assert main(["assets", "--list"]) == 0
    output = capsys.readouterr().out
    assert str(cache) in output and output.count("missing") == 3


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    output = capsys.readouterr().out
    assert "gpt2-medium" in output and "354,823,168" in output and "synthetic" in output


def test_rules_prints_the_gate_table_and_refuses_a_broken_file(tmp_path, capsys):
    assert main(["rules"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| figures | tolerance | gated | run-to-run spread (one base run) |")
    assert "| memory (bytes) | ±50 % and ±32 MiB | yes | 18 % |" in table
    broken = tmp_path / "rules.toml"
    broken.write_text("version = 99\n")
    assert main(["rules", "--rules", str(broken)]) == 2
    assert "version 99" in capsys.readouterr().err
    text = DEFAULT_RULES.read_text()
    for old, new, said in (
        ("relative = 0.25", "relative = 25", "has relative = 25; it must be a finite number from "
                                             "0 to 10 (a fraction: 0.25 is 25 %)"),
        ("alpha = 0.05", "alpha = 0", "the file has alpha = 0; it must be a finite number above 0 "
                                      "to 0.5"),
        ('metrics = ["*load_seconds", "cold_import_seconds"]', 'metrics = "*load_seconds"',
         "'s metrics must be a list of strings, like metrics = [\"*load_seconds\"]"),
        ("gated = true", 'gated = "yes"', "'s gated must be true or false, not 'yes'"),
        ("relative = 0.25", "absolute = inf", "has absolute = inf; it must be a finite"),
        ("version = 8", "version = true", "has version True"),
        ('figures = "parameter counts', 'figures = 3 # "parameter counts',
         "'s figures must be a string in quotes, not 3"),
        ("alpha = 0.05", "alpah = 0.05", "the file has unknown keys alpah (it knows version"),
        ('units = ["s"]', 'units = ["S"]', "names units no figure has (S); the units are"),
        ('"parameters_*"', '"paramters_*"', "names metrics that match none of lmgauge's "
                                            "(paramters_*)"),
    ):  # fmt: skip
        assert old in text
        broken.write_text(text.replace(old, new, 1))
        assert main(["rules", "--rules", str(broken)]) == 2
        assert said in capsys.readouterr().err
    tight = '\n[[rule]]\nmetrics = ["decode_step_seconds"]\nrelative = 0.01\nreason = "r"\n'
    broken.write_text(text + tight)  # found by a new-user trial: listed, and it judged nothing
    assert main(["rules", "--rules", str(broken)]) == 2
    assert (f"rule {text.count('[[rule]]')} never applies: every metric it matches is judged by "
            "an earlier rule (rule 11 takes decode_step_seconds); put it before them") in (
        capsys.readouterr().err)  # fmt: skip
    broken.write_text('version = 8\n[[rule]]\nunits = ["s"]\nreason = "r"\n[[rule]]\nmetrics = '
                      '["decode_step_seconds", "parameters_*"]\nreason = "r"\n')  # review
    assert main(["rules", "--rules", str(broken)]) == 2
    assert ("rule 1 names decode_step_seconds, but rule 0 judges it first, so rule 1 never "
            "applies to it; put it before rule 0") in capsys.readouterr().err
    broken.write_text('version = 8\n[[rule]]\nunits = ["s"]\nexact = true\nrelative = 5\n'
                      'reason = "r"\n')  # found by a new-user trial: the relative was ignored
    assert main(["rules", "--rules", str(broken)]) == 2
    assert "rule 0 is exact and states a tolerance too" in capsys.readouterr().err
    broken.write_text('version = 8\n[rule]\nmetrics = ["x"]\nreason = "r"\n')
    assert main(["rules", "--rules", str(broken)]) == 2
    assert "each rule must be a [[rule]] table (two brackets)" in capsys.readouterr().err


def test_compare_gate_export_plot_and_summary_from_the_command_line(tmp_path, capsys):
    import json

    from tests.reports_for_tests import make_report

    base = write_atomic(make_report(1), tmp_path / "base.json")
    same = write_atomic(make_report(2), tmp_path / "same.json")
    slow = write_atomic(make_report(3, slowdown=1.6), tmp_path / "slow.json")
    runs = tmp_path / "baseline"
    for seed in range(11, 16):
        write_atomic(make_report(seed), runs / f"run-{seed}.json")
    (runs / "notes.json").write_text("{}")
    assert main(["gate", str(base), str(same)]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert main(["gate", str(runs), str(slow)]) == 1
    output = capsys.readouterr().out
    assert "FAILED" in output and "against 5 base runs" in output and "5 base runs)" in output
    assert main(["compare", str(base), str(slow), "--format", "markdown"]) == 0
    assert "| gpt2 " in capsys.readouterr().out
    out = tmp_path / "smaller.json"
    assert main(["export-github", str(slow), "--direction", "lower", "--output", str(out)]) == 0
    entries = json.loads(out.read_text())
    assert {"name", "unit", "value"} <= set(entries[0]) and entries[0]["unit"] == "s"
    assert main(["plot", str(base), str(slow), "--out", str(tmp_path / "plots")]) == 0
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["base_vs_slow.compare.png", "slow.scaling.png"], "no bounds: no roofline"
    assert main(["summary", str(slow)]) == 0
    assert "| gpt2 " in (tmp_path / "slow.md").read_text()


def test_compare_with_a_broken_report_is_one_sentence(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "lmgauge-run-report", "schema_version": 2, "run"')
    assert main(["compare", str(broken), str(broken)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lmgauge: ") and "not valid JSON" in error
    assert len(error.splitlines()) == 1
    assert main(["compare", str(tmp_path), str(broken)]) == 2  # found by a new-user trial
    assert "is a folder; this command compares two run reports, and `lmgauge gate BASE NEW`" in (
        capsys.readouterr().err)  # fmt: skip


def test_writing_to_a_place_that_cannot_be_written_is_one_sentence(tmp_path, capsys):
    from tests.reports_for_tests import make_report

    report = write_atomic(make_report(1), tmp_path / "r.json")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for command in (
        ["plot", str(report), "--out", str(blocker / "plots")],
        ["summary", str(report) + "/x"],
        ["export-github", str(report), "--direction", "lower", "--output", str(blocker / "e")],
        ["compare", str(report), str(report), "--output", str(blocker / "c.txt")],
    ):
        assert main(command) == 2, command
        error = capsys.readouterr().err
        assert error.startswith("lmgauge: ") and error.count("\n") == 1, error


def test_gate_against_an_empty_folder_is_one_sentence(tmp_path, capsys):
    from tests.reports_for_tests import make_report

    new = write_atomic(make_report(2), tmp_path / "new.json")
    (tmp_path / "empty").mkdir()
    assert main(["gate", str(tmp_path / "empty"), str(new)]) == 2
    error = capsys.readouterr().err
    assert "holds no lmgauge run report" in error and error.count("\n") == 1


def test_stored_check_counts_false_alarms_and_detections(tmp_path, capsys):
    from tests.reports_for_tests import make_report

    for seed in range(1, 8):
        write_atomic(make_report(seed), tmp_path / "same" / f"{seed}.json")
    slowed = make_report(9, slowdown=1.6)
    slowed["run"]["options"].update(inject_slowdown=0.6)
    write_atomic(slowed, tmp_path / "slow" / "9.json")
    assert main(["stored-check", str(tmp_path / "same"), "--slowed", str(tmp_path / "slow")]) == 0
    output = capsys.readouterr().out
    assert "false alarms: 0 of 42 same-code trials" in output
    assert "detections: 7 of 7 trials (1 slowed runs; slowed: +60 % in" in output
    folder = ["stored-check", str(tmp_path / "same"), "--slowed", str(tmp_path / "slow")]
    assert main([*folder, "--new-runs", "1"]) == 0
    output = capsys.readouterr().out
    assert "false alarms: 0 of 7 same-code trials" in output
    assert "detections: 1 of 1 trials" in output
    assert main([*folder, "--new-runs", "4"]) == 2
    assert "too few for a new side of 4" in capsys.readouterr().err
    assert main([*folder, "--rules-spreads", "--scale", "gpt2-medium=1.01,3"]) == 0
    assert "scaled trials (the new side's gpt2-medium timings made worse in a copy of each " \
           "same-code trial): caught 1.01x in 0 of 42, 3x in 42 of 42" in capsys.readouterr().out
    assert main([*folder, "--new-runs", "2", "--scale", "gpt2-medium=3"]) == 0
    assert "caught 3x in 21 of 21" in capsys.readouterr().out
    assert main([*folder, "--scale", "gpt3=2"]) == 2
    assert "hold no model 'gpt3'; they hold gpt2, gpt2-medium" in capsys.readouterr().err
    assert main([*folder, "--rules-spreads", "--scale", "gpt2-medium=3,3"]) == 0
    assert "caught 3x in 42 of 42\n" in capsys.readouterr().out, "a factor given twice counts once"
    for wrong in ("gpt2=0.5", "gpt2", "gpt2=inf", "gpt2=2,x", "gpt2=1_5"):
        assert main([*folder, "--scale", wrong]) == 2
        assert "give MODEL=F[,F...] with finite factors above 1" in capsys.readouterr().err
    assert main([*folder, "--new-runs", "2", "--rules-spreads"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    (tmp_path / "same" / "notes.json").write_text('{"other": "json"}')
    assert main([*folder, "--new-runs", "1"]) == 0, "JSON that is not a report is skipped"
    capsys.readouterr()
    other = make_report(7)
    other["environment"]["git"] = {**other["environment"].get("git", {}), "commit": "abc"}
    write_atomic(other, tmp_path / "same" / "7.json")
    assert main([*folder, "--new-runs", "1"]) == 2
    assert "mixes runs that differ" in capsys.readouterr().err


def test_stored_check_counts_only_a_slowdown_seen_and_refuses_slowed_runs_made_elsewhere(
    tmp_path, capsys
):
    """Found by review: a slowed model whose figures vanished (its bench crashed) or were not
    comparable counted as a caught slowdown, and slowed runs of another commit were taken."""
    from tests.reports_for_tests import make_report

    for seed in range(1, 8):
        write_atomic(make_report(seed), tmp_path / "same" / f"{seed}.json")
    crashed = make_report(9)
    crashed["run"]["options"].update(inject_slowdown=0.6, inject_slowdown_models="gpt2")
    crashed["results"] = [r for r in crashed["results"] if r["model"] != "gpt2"]
    write_atomic(crashed, tmp_path / "slow" / "9.json")
    folder = ["stored-check", str(tmp_path / "same"), "--slowed", str(tmp_path / "slow")]
    assert main(folder) == 0
    assert "detections: 0 of 7 trials" in capsys.readouterr().out
    other = make_report(9, slowdown=1.6)
    other["run"]["options"].update(inject_slowdown=0.6)
    other["environment"]["git"] = {"commit": "abc"}
    write_atomic(other, tmp_path / "slow" / "9.json")
    assert main(folder) == 2
    assert "the slowed runs differ from the same-code runs beyond the injected slowdown " \
           "(commit: None -> abc)" in capsys.readouterr().err


def test_stored_check_does_not_call_a_test_broken_in_every_run_a_false_alarm(tmp_path, capsys):
    """Found by review: a bench that fails in every run failed every same-code pair (the gate
    rightly fails a test broken on both sides), and stored-check counted them as noise. A test
    that fails in some runs only is a false alarm of the gate, and its reason is shown."""
    from tests.reports_for_tests import make_report, recounted

    broken = {"test": "benches/bench_generate.py::test_generate[gpt2]", "outcome": "failed",
              "when": "call", "message": "RuntimeError: boom"}  # fmt: skip
    for seed in range(1, 8):
        document = make_report(seed)
        document["tests"]["not_passed"] = [broken]
        write_atomic(recounted(document), tmp_path / "same" / f"{seed}.json")
    assert main(["stored-check", str(tmp_path / "same")]) == 0
    output = capsys.readouterr().out
    assert "false alarms: 0 of 42 same-code trials" in output
    assert "42 same-code trials failed only on tests that failed on both sides" in output
    assert f"- {broken['test']}: 42" in output and "First reason" not in output
    for seed in (1, 2, 3):  # now it fails in some runs only: a flaky test fails the gate
        passing = make_report(seed)
        write_atomic(passing, tmp_path / "same" / f"{seed}.json")
    assert main(["stored-check", str(tmp_path / "same")]) == 0
    output = capsys.readouterr().out
    assert "false alarms: 12 of 42 same-code trials" in output
    assert "First reason of each failing pair:" in output and "RuntimeError: boom" in output


def test_stored_check_counts_a_busy_base_apart_from_false_alarms(tmp_path, capsys):
    """A same-code pair whose base run measured its timings only while busy fails the gate
    (it cannot judge them), but that is a base to make again, not timing noise."""
    from tests.reports_for_tests import make_report

    for seed in range(1, 8):
        write_atomic(make_report(seed, busy=seed == 1), tmp_path / "same" / f"{seed}.json")
    assert main(["stored-check", str(tmp_path / "same"), "--rules-spreads"]) == 0
    output = capsys.readouterr().out
    assert "false alarms: 0 of 42 same-code trials" in output
    assert "6 same-code trials failed only on timings that their base run measured only while " \
           "the machine was busy" in output


def test_a_failing_pair_s_first_reason_is_what_got_worse_not_what_differed():
    """Found by review: the machine's speed moving (context) was given as the reason."""
    from lmgauge.judge.gate import run_gate
    from lmgauge.runs.stored_check import first_reason
    from tests.reports_for_tests import make_report

    result = run_gate(make_report(1), make_report(6, slowdown=2.5, matmul=0.7e11))
    assert "the machine's speed moved" in result.message()
    assert first_reason(result).startswith("gpt2 decode_step_seconds"), first_reason(result)


def test_a_worse_family_is_traced_to_its_model_even_when_the_name_holds_spaces():
    from lmgauge.judge.family import FamilyVerdict
    from lmgauge.runs.stored_check import family_models

    worse = [FamilyVerdict("/models/my gpt threads=2", 10, 3, 1.3, 0.01, 0.01, True, False)]
    assert family_models(worse, {"/models/my gpt", "/models/my", "other"}) == {"/models/my gpt"}


def test_plot_of_a_report_with_nothing_to_chart_says_so(tmp_path, capsys):
    """Found by review: it wrote no PNG and printed nothing."""
    path = write_atomic(sample_document(), tmp_path / "r.json")
    assert main(["plot", str(path)]) == 0
    output = capsys.readouterr().out
    assert output.startswith("lmgauge plot: nothing to draw") and not list(tmp_path.glob("*.png"))


def test_the_command_line_default_of_max_runs_is_the_runs_layers():
    from lmgauge.cli import ab as command_line
    from lmgauge.runs import ab

    assert command_line.MAX_RUNS == ab.MAX_RUNS


def test_history_refuses_a_count_of_runs_below_one(capsys):
    """Found by a new-user trial: `--last 0` and `--last -3` listed runs anyway."""
    for last in ("0", "-3", "x"):
        with pytest.raises(SystemExit) as stopped:
            main(["history", "--last", last])
        assert stopped.value.code == 2
        assert "is not a number of runs (1 or more)" in capsys.readouterr().err
