"""A run over several configurations: every subject loaded once, named in its results, and the
table and chart written beside the report."""

from __future__ import annotations

import pytest

from tests.conftest import PROJECT
from tests.test_plugin import run_benches

BENCHES = str(PROJECT / "benches")
QUICK = ("--rounds", "2", "--round-budget", "0", "--new-tokens", "4", "--prompt-tokens", "8")


@pytest.mark.slow
def test_each_configuration_is_a_subject_of_its_own(pytester, tiny_gpt2_dir):
    model = str(tiny_gpt2_dir)
    result, (report,) = run_benches(
        pytester, "-k", "test_generate or test_warm_load or test_configuration_steps",
        "--models", model, "--configs", "default,sdpa+bf16,int8", *QUICK, target=BENCHES,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert set(report["models"]) == {model, f"{model}@sdpa+bf16", f"{model}@int8"}
    assert {m["load_count"] for m in report["models"].values()} == {1}
    assert report["run"]["max_models_resident"] == 1
    assert report["models"][f"{model}@sdpa+bf16"]["dtype"] == "bfloat16"
    ttft = {r["params"].get("config") for r in report["results"] if r["metric"] == "ttft_seconds"}
    assert ttft == {None, "sdpa+bf16", "int8"}, "the default configuration adds no parameter"
    assert all(r["model"] == model for r in report["results"] if r["bench"] != "calibration")
    quantize = [r for r in report["results"] if r["metric"] == "quantize_seconds"]
    assert [r["params"] for r in quantize] == [{"config": "int8"}]
    roofs = {r["params"].get("dtype") for r in report["results"] if r["bench"] == "calibration"}
    assert roofs == {None, "bfloat16"}, "roofs calibrated in each dtype the models compute in"
    assert report["run"]["options"]["configs"] == ["default", "sdpa+bf16", "int8"]
    reports = pytester.path / "reports"
    table = next(reports.glob("*.configs.md")).read_text()
    assert f"| {model}@sdpa+bf16" in table and "tokens/s" in table


def test_a_bad_configuration_stops_the_run_in_one_sentence(pytester, tiny_gpt2_dir):
    result, _ = run_benches(pytester, "--models", str(tiny_gpt2_dir), "--configs", "eager+fast")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown configuration 'eager+fast'; presets: default, eager*"])


@pytest.mark.slow
def test_a_control_that_breaks_nothing_fails_the_fidelity_bench(pytester, tiny_gpt2_dir):
    """A tiny random model has no outlier weights, so rounding it to int8 per tensor changes
    hardly a token: the control cannot show that the threshold would catch a break, and says
    so instead of passing."""
    result, (report,) = run_benches(
        pytester, "-k", "test_next_token_fidelity", "--models", str(tiny_gpt2_dir), *QUICK,
        target=str(PROJECT / "benches" / "bench_fidelity.py"),
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*naive-int8 control: the broken control passes*"])
    agreement = [r for r in report["results"] if r["metric"] == "top1_agreement"]
    assert agreement[0]["threshold"]["verdict"] == "pass" and agreement[0]["value"] == 1.0
