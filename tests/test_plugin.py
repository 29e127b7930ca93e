"""The pytest side, run as a user would: real bench files in a fresh pytest process."""

import json

import pytest

from lmgauge.sources.cache import write_manifest
from tests.conftest import PROJECT
from tests.tiny_models import hub_cache_entry

BENCHES = str(PROJECT / "benches")
PARAMS_BENCH = str(PROJECT / "benches" / "bench_params.py")


def run_benches(pytester, *args, target=BENCHES):
    """Run bench files in a fresh pytest process. Timing sanity checks are only recorded
    (--timing-checks record): these tests are about behaviour, and a tiny model's speed on a
    shared machine proves nothing."""
    report_dir = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        target, "-p", "no:cacheprovider", "--report-dir", str(report_dir),
        "--timing-checks", "record", *args,
    )  # fmt: skip
    reports = sorted(report_dir.glob("*.json")) if report_dir.exists() else []
    return result, [json.loads(path.read_text()) for path in reports]


@pytest.mark.slow
def test_quick_tier_loads_each_model_once_and_reports_every_bench(
    pytester, tiny_gpt2_dir, tiny_bert_dir
):
    """The fidelity bench is left out: naive rounding barely moves random weights without
    outliers, so its controls break nothing on tiny models (test_config_runs shows that)."""
    models = f"{tiny_gpt2_dir},{tiny_bert_dir}"
    result, reports = run_benches(
        pytester, "-m", "not slow", "-k", "not fidelity", "--models", models,
        "--threads", "1", "--rounds", "2", "--round-budget", "0",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    (report,) = reports
    assert report["run"]["status"] == "passed" and report["run"]["max_models_resident"] == 1
    assert report["run"]["options"]["threads"] == 1 == report["environment"]["torch_threads"]
    assert {m["load_count"] for m in report["models"].values()} == {1}
    roofs = {r["metric"] for r in report["results"] if r["bench"] == "calibration"}
    assert roofs == {"memory_bandwidth", "mv_bandwidth", "matmul_throughput"}
    benches = {(r["bench"], r["model"]) for r in report["results"]}
    gpt2, bert = str(tiny_gpt2_dir), str(tiny_bert_dir)
    for bench in ("params", "load", "memory", "batch"):
        assert {(bench, gpt2), (bench, bert)} <= benches, bench
    assert ("generate", gpt2) in benches and ("forward", bert) in benches
    assert ("generate", bert) not in benches, "encoders are not parametrized into generation"
    assert ("quality", gpt2) in benches and ("quality", bert) not in benches
    tables = report["run"]["text_tables"]
    assert any(name.endswith(".outputs.md") for name in tables)
    assert all((pytester.path / "reports" / name).is_file() for name in tables)
    outputs = [t for t in report["texts"] if t["table"] == "outputs"]
    assert len(outputs) == 5 * (1 + 4), "5 course prompts, greedy and 4 temperatures"
    steps = [r for r in report["results"] if r["metric"] == "decode_step_seconds"]
    assert steps and all(r["summary"]["n"] == 2 * 31 for r in steps), "2 rounds x 31 steps"
    assert all(len(r["rounds"]) == 2 for r in steps)
    assert all(len(r["probe_seconds"]) == 2 for r in steps), "probes around the rounds only"
    assert all("after 2 rounds" in r["stopped"] for r in steps), "interval or budget"
    warmups = [r for r in report["results"] if r["metric"] == "warmup_call_seconds"
               and r["bench"] == "generate"]  # fmt: skip
    assert warmups and all(r["params"]["warmup_new_tokens"] == 4 for r in warmups)
    assert report["calibration_end"]["bandwidth_kernel"] == report["calibration"][
        "bandwidth_kernel"], "the end check times the kernel that set the roof"  # fmt: skip
    assert not list((pytester.path / "reports").glob("*.jsonl")), "journal removed at the end"
    skips = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "skipped"]
    assert any("no published parameter count" in message for message in skips)


@pytest.mark.slow
@pytest.mark.timing
def test_slow_tier_on_a_tiny_model(pytester, tiny_gpt2_dir):
    result, (report,) = run_benches(
        pytester,
        "-m",
        "slow",
        "--models",
        str(tiny_gpt2_dir),
        "--rounds",
        "1",
        "--round-budget",
        "0",
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    metrics = {r["metric"]: r for r in report["results"]}
    assert len(metrics["cold_load_seconds"]["samples"]) == 1, "--rounds fresh processes"
    assert metrics["resident_overhead_ratio"]["value"] > 0.9
    assert metrics["largest_batch_that_fit"]["value"] == 16
    skips = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "skipped"]
    assert any("holds 256 positions" in message for message in skips)
    assert "hand_loop_ratio" in metrics or any(
        "too short for a 2 % comparison" in message for message in skips
    ), "the hand-loop cross-check ran, or said why not (a busy machine's step can be long enough)"


def test_an_unwritable_report_folder_stops_the_run_before_any_model_loads(pytester, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = pytester.runpytest_subprocess(
        PARAMS_BENCH, "--models", "gpt2", "--report-dir", str(blocker / "reports"),
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot write run reports to*choose a writable folder*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_benches_refuse_pytest_xdist_workers_in_one_sentence(pytester):
    """lmgauge's own tests may run under -n (CI runs the slow tier so); benches may not: each
    worker would load the models again and time them against the other workers."""
    pytest.importorskip("xdist")
    result, reports = run_benches(pytester, "--models", "gpt2", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*benches cannot run in pytest-xdist workers (-n or --dist)*"])
    assert reports == [] and "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(
    ("arguments", "refused"),
    [
        (["benches", "-n", "2"], True),
        (["benches/bench_params.py::test_parameter_counts", "--tx", "2*popen"], True),
        (["benches", "-n", "0"], False),
        (["benches", "-n", "2", "--co"], False),
        ([".", "-n", "2", "--ignore", "benches"], False),
        ([".", "-n", "2"], True),
        (["benches/bench_params.py", "-n", "2", "--ignore", "benches"], True),
        (["tests", "-n", "2"], False),
        ([".", "-n", "2", "--ignore-glob", "benches/*"], False),
        ([".", "-n", "2", "--ignore-glob", "*/bench_*.py"], False),
        ([".", "-n", "2", "--ignore-glob", "*/bench_params.py"], True),
    ],
)
def test_which_runs_are_refused_under_xdist(arguments, refused):
    """In process, on the options xdist leaves (a --tx list and --dist load when -n is given)."""
    from types import SimpleNamespace

    from lmgauge.pytest_plugin.options import check_not_distributed

    workers = arguments[arguments.index("-n") + 1] if "-n" in arguments else None
    tx = ["popen"] * int(workers) if workers else (["popen"] * 2 if "--tx" in arguments else [])
    ignore = [arguments[arguments.index("--ignore") + 1]] if "--ignore" in arguments else []
    globs = ([arguments[arguments.index("--ignore-glob") + 1]]
             if "--ignore-glob" in arguments else [])  # fmt: skip
    options = {"dist": "load" if tx else "no", "tx": tx, "ignore": ignore, "ignore_glob": globs}
    config = SimpleNamespace(
        getoption=lambda name, default=None: options.get(name, default),
        getini=lambda name: ["*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules",
                             "venv", "{arch}"],  # pytest's default norecursedirs
        option=SimpleNamespace(collectonly="--co" in arguments),
        invocation_params=SimpleNamespace(dir=PROJECT), args=arguments[:1],
    )  # fmt: skip
    if refused:
        with pytest.raises(pytest.UsageError, match="pytest-xdist workers"):
            check_not_distributed(config)
    else:
        check_not_distributed(config)


def test_unknown_model_is_a_usage_error_listing_known_models(pytester):
    result, reports = run_benches(pytester, "--models", "gpt2,gpt3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown model 'gpt3'; known models: distilgpt2, gpt2*"])
    assert reports == []


def test_a_broken_model_fails_its_own_tests_and_the_others_run(pytester, tmp_path, tiny_gpt2_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_gpt2_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    result, (report,) = run_benches(
        pytester, "--models", f"{broken},{tiny_gpt2_dir}", target=PARAMS_BENCH
    )
    result.assert_outcomes(passed=3, skipped=1, errors=4)
    result.stdout.fnmatch_lines([f"*model '{broken}' could not be loaded*"])
    assert "Traceback" not in result.stdout.str()
    assert report["run"]["status"] == "failed"
    assert report["models"][str(broken)]["error"].startswith(f"model '{broken}'")
    assert report["models"][str(broken)]["load_count"] == 1, "a failed load is not retried per test"
    assert report["models"][str(tiny_gpt2_dir)]["error"] is None


def test_collect_only_is_parametrized_over_the_selected_models(pytester):
    result, reports = run_benches(pytester, "--collect-only", "-q")
    for name in ("smollm2-135m", "minilm-l6", "distilgpt2", "gpt2", "gpt2-medium"):
        result.stdout.fnmatch_lines([f"*test_parameter_counts[[]{name}[]]"])
    assert "gpt2-large" not in result.stdout.str()
    narrowed, _ = run_benches(
        pytester, "--collect-only", "-q", "--models", "gpt2", target=PARAMS_BENCH
    )
    narrowed.stdout.fnmatch_lines(["4 tests collected*"])
    assert reports == []


def test_the_data_set_is_loaded_once_per_session(pytester, cache, monkeypatch):
    from lmgauge.sources import assets

    folder = assets.asset_dir(assets.ASSETS["pang-lee-polarity"])
    folder.mkdir(parents=True)
    rows = [f'"{1 if i % 2 else -1}","sentence {i}"' for i in range(40)]
    (folder / "polarity-en-pang&lee2.csv").write_text("\n".join(rows))
    write_manifest(folder, {"asset": "pang-lee-polarity"})
    pytester.makepyfile(
        bench_data="""
        def test_sizes(polarity):
            assert polarity["train"].num_rows == 32

        def test_labels(polarity):
            assert set(polarity["test"]["label"]) == {0, 1}
    """
    )
    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]')
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "python_files=bench_*.py", "--report-dir", "out"
    )
    result.assert_outcomes(passed=2)
    (path,) = (pytester.path / "out").glob("*.json")
    datasets = json.loads(path.read_text())["datasets"]
    assert datasets["pang-lee-polarity"]["load_count"] == 1
    assert datasets["pang-lee-polarity"]["splits"] == {"train": 32, "validation": 4, "test": 4}


def test_hub_models_of_the_other_task_are_skipped_at_run_time(
    pytester, monkeypatch, tmp_path, tiny_bert_dir
):
    hub_cache_entry(tmp_path / "hub", "tinyorg/tiny-bert", tiny_bert_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target = str(PROJECT / "benches" / "bench_generate.py")
    result, (report,) = run_benches(pytester, "--models", "hf:tinyorg/tiny-bert", target=target)
    assert result.ret == 0
    outcomes = report["tests"]["not_passed"]
    assert outcomes and all(item["outcome"] == "skipped" for item in outcomes)
    assert all(
        "is a 'encoder' model; this bench is for 'causal-lm'" in i["message"] for i in outcomes
    )
    assert report["models"]["hf:tinyorg/tiny-bert"]["source"] == "hub"


def test_timing_checks_fail_on_a_quiet_machine_and_are_skipped_on_a_busy_one(pytester, monkeypatch):
    from lmgauge.measure import noise

    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]')
    pytester.makepyfile(
        bench_judge="def test_check(record, judge_timing):\n"
        "    record('batched_vs_sequential_speedup', 0.5, batch=4)\n"
        "    judge_timing(False, 'odd')\n"
    )
    args = ("-o", "python_files=bench_*.py", "--report-dir", "out", "--models", "gpt2")
    monkeypatch.setattr(noise.NoiseReading, "busy", property(lambda self: False))
    pytester.runpytest(*args).assert_outcomes(failed=1)
    monkeypatch.setattr(noise.NoiseReading, "busy", property(lambda self: True))
    busy = pytester.runpytest(*args, "-rs")
    busy.assert_outcomes(skipped=1)
    busy.stdout.fnmatch_lines(["*not judged on a busy machine*odd*"])
    recorded = pytester.runpytest(*args, "--timing-checks", "record")
    recorded.assert_outcomes(passed=1)
    reports = [json.loads(path.read_text()) for path in (pytester.path / "out").glob("*.json")]
    (report,) = [r for r in reports if r["run"]["options"].get("timing_checks") == "record"]
    (result,) = report["results"]
    assert "timing-check-failed" in result["flags"]


@pytest.mark.slow
def test_quality_checks_skip_synthetic_weights_but_the_anatomy(pytester, tmp_path, tiny_gpt2_dir):
    import shutil

    synthetic = tmp_path / "synthetic-gpt2"
    shutil.copytree(tiny_gpt2_dir, synthetic)
    write_manifest(synthetic, {"weights": "synthetic"})
    target = str(PROJECT / "benches" / "bench_quality.py")
    result, (report,) = run_benches(
        pytester, "-m", "not slow", "--models", str(synthetic), target=target
    )
    result.assert_outcomes(passed=1, skipped=4)
    skips = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "skipped"]
    assert all("synthetic weights" in message for message in skips)
    metrics = {r["metric"] for r in report["results"]}
    assert {"anatomy_hidden_size", "anatomy_logits_width"} <= metrics
    assert report["run"]["text_tables"] == [], "no next-token text for synthetic weights"


INTERRUPTED_BENCH = """
import os
import pytest

def test_step(record):
    record("decode_step_seconds", samples=[0.05, 0.051, 0.049], batch=1)
    if os.environ.get("EXIT_CLEANLY"):
        pytest.exit("done", returncode=0)
    raise KeyboardInterrupt
"""


def test_ctrl_c_is_reported_as_interrupted_even_when_an_interrupt_hook_crashes(
    pytester, monkeypatch
):
    """Found by a new-user trial: Ctrl-C during a model load crashed a keyboard-interrupt hook,
    pytest then hands session-finish exit status 0, and the report said passed."""
    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]\n'
                          "def pytest_keyboard_interrupt(excinfo):\n"
                          "    raise RuntimeError('the handler crashed')\n")  # fmt: skip
    pytester.makepyfile(bench_interrupted=INTERRUPTED_BENCH)
    (pytester.path / "out").mkdir()
    (pytester.path / "out" / "20261203T000000Z_x.journal.jsonl").write_text("garbage\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "python_files=bench_*.py", "--models", "gpt2",
        "--no-calibration", "--no-store", "--report-dir", "out")  # fmt: skip
    assert result.ret != 0
    (report,) = (pytester.path / "out").glob("*.json")
    document = json.loads(report.read_text())
    assert document["run"]["status"] == "interrupted" and document["run"]["exit_status"] == 2
    assert len(document["results"]) == 1, "what it recorded before Ctrl-C is kept"
    result.stdout.fnmatch_lines(["*a killed run's journal was not recovered: *20261203T000000Z_x*"])
    monkeypatch.setenv("EXIT_CLEANLY", "1")  # review: pytest exits 0 even after a failure
    stopped = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "python_files=bench_*.py", "--models", "gpt2",
        "--no-calibration", "--no-store", "--report-dir", "clean")  # fmt: skip
    (report,) = (pytester.path / "clean").glob("*.json")
    from lmgauge.record.report import validate

    assert validate(json.loads(report.read_text()))["run"]["status"] == "interrupted"
    assert stopped.ret != 0, "a run stopped early does not pass"


GATED_BENCH = """
import os

def test_step(record):
    slowdown = float(os.environ.get("SLOWDOWN", "1"))
    samples = [0.05 * slowdown * (1 + 0.01 * (i % 7)) for i in range(40)]
    record("decode_step_seconds", samples=samples, batch=1)
"""


@pytest.mark.slow
def test_gate_option_passes_the_same_run_and_fails_a_slowdown(pytester, monkeypatch):
    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]')
    pytester.makepyfile(bench_gated=GATED_BENCH)
    args = ("-p", "no:cacheprovider", "-o", "python_files=bench_*.py", "--models", "gpt2")
    first = pytester.runpytest_subprocess(*args, "--report-dir", "base")
    assert first.ret == 0
    (base,) = (pytester.path / "base").glob("*.json")
    assert (pytester.path / "base" / base.with_suffix(".md").name).is_file(), "summary beside it"
    again = pytester.runpytest_subprocess(*args, "--report-dir", "same", f"--gate={base}")
    assert again.ret == 0
    again.stdout.fnmatch_lines(["*lmgauge gate: PASSED*"])
    monkeypatch.setenv("SLOWDOWN", "1.5")
    slower = pytester.runpytest_subprocess(*args, "--report-dir", "slow", f"--gate={base}")
    assert slower.ret == 1
    slower.stdout.fnmatch_lines(["*lmgauge gate: FAILED*", "*decode_step_seconds*1.5x slower*"])
    (report,) = (pytester.path / "slow").glob("*.json")
    gate = json.loads(report.read_text())["run"]["gate"]
    assert gate["passed"] is False and gate["failures"][0]["metric"] == "decode_step_seconds"
    missing = pytester.runpytest_subprocess(*args, "--gate=nowhere.json")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*cannot read report nowhere.json*"])
    for option, typed in (("--co", "--collect-only"), ("--setup-plan", "--setup-plan"),
                          ("--setup-only", "--setup-only")):  # fmt: skip
        listed = pytester.runpytest_subprocess(*args, option, f"--gate={base}")
        assert listed.ret == pytest.ExitCode.USAGE_ERROR, "found by a new-user trial: exit 0"
        listed.stderr.fnmatch_lines([f"*with {typed} is refused: no test runs*"])
    nothing = pytester.runpytest_subprocess(*args, "-k", "nomatch", f"--gate={base}")
    assert nothing.ret == 1, "found by a new-user trial: exit 5, which CI scripts often allow"
    nothing.stdout.fnmatch_lines(["*lmgauge gate: FAILED*", "*ran no test (pytest exit status 5*"])
    pytester.makepyfile(test_plain="def test_nothing_measured():\n    pass\n")
    no_bench = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_plain.py",
                                             f"--gate={base}")  # fmt: skip
    assert no_bench.ret == 1, "found by a fail-closed audit: a gate that judged nothing passed"
    no_bench.stdout.fnmatch_lines(["*lmgauge gate: FAILED*no bench ran in this session*"])


@pytest.mark.slow
def test_every_bench_of_both_tiers_runs_or_skips_on_a_tokenizer_less_model(pytester, tmp_path):
    """Skips come before expensive or impossible setup: no bench may error on a model
    without a tokenizer (the synthetic twins have none)."""
    from tests.tiny_models import tiny_gpt2

    model = tiny_gpt2(tmp_path / "no-tokenizer", with_tokenizer=False)
    result, (report,) = run_benches(
        pytester, "--models", str(model), "--rounds", "1", "--round-budget", "0",
        "--threads", "1",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == 0 and outcomes.get("failed", 0) == 0, result.stdout.str()[
        -3000:
    ]
    skips = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "skipped"]
    assert any("has no tokenizer" in message for message in skips)


@pytest.mark.parametrize(
    ("device", "message"),
    [("cuda:1", "--device cuda:1 was asked for but torch sees no CUDA device"),
     ("tpu", "--device tpu is not a device torch knows")],
)  # fmt: skip
def test_a_device_with_an_index_reaches_the_runtime_and_bad_ones_are_one_sentence(
    pytester, device, message
):
    result, reports = run_benches(pytester, "--models", "gpt2", "--device", device,
                                  target=PARAMS_BENCH)  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "invalid choice" not in result.stderr.str() and reports == []


def test_a_quality_figure_without_a_threshold_is_recorded_as_unjudged(pytester, tiny_gpt2_dir):
    """No threshold guards a local model's known-answer accuracy: the bench passes, and both the
    report and the terminal say the figure was not judged."""
    target = str(PROJECT / "benches" / "bench_quality.py")
    result, (report,) = run_benches(
        pytester, "-k", "test_known_answers", "--models", str(tiny_gpt2_dir), target=target
    )
    result.assert_outcomes(passed=1)
    (accuracy,) = [r for r in report["results"] if r["metric"] == "known_answer_accuracy"]
    assert accuracy["threshold"] == {"verdict": "unjudged"}
    (control,) = [r for r in report["results"] if r["metric"] == "control_known_answer_accuracy"]
    assert control["threshold"] is None, "a control is recorded, not judged"
    result.stdout.fnmatch_lines(["*quality thresholds: 1 unjudged*known_answer_accuracy x1*"])


def test_no_calibration_records_the_timings_and_no_roofline_figure(pytester, tiny_bert_dir):
    """What lmgauge ab's repeated runs pass: the forward timings are there, the roofs, bounds and
    efficiencies are not, and the report says the run was not calibrated."""
    from lmgauge.record.metrics import METRICS

    target = str(PROJECT / "benches" / "bench_forward.py")
    result, (report,) = run_benches(
        pytester, "-m", "not slow", "--models", str(tiny_bert_dir), "--rounds", "2",
        "--round-budget", "0", "--no-calibration", target=target,
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    metrics = {r["metric"] for r in report["results"]}
    assert "forward_seconds" in metrics
    assert not [m for m in metrics if METRICS[m].from_calibration], metrics
    assert not report.get("calibration") and not report.get("calibration_end")
    assert report["run"]["options"]["calibration"] is False
