"""Sweeps from the command line replace the benches' default shapes, on a tiny model."""

from __future__ import annotations

import pytest

from lmgauge.pytest_plugin.sweeps import parse_counts
from tests.conftest import PROJECT
from tests.test_plugin import run_benches

GENERATE = str(PROJECT / "benches" / "bench_generate.py")
BATCH = str(PROJECT / "benches" / "bench_batch.py")
QUICK = ("--rounds", "2", "--round-budget", "0")


@pytest.mark.slow
def test_prompt_new_tokens_and_threads_replace_the_defaults(pytester, tiny_gpt2_dir):
    """The tiny GPT-2 holds 256 positions: a 300-token prompt skips with the reason."""
    result, (report,) = run_benches(
        pytester, "-k", "test_generate", "--models", str(tiny_gpt2_dir), *QUICK,
        "--prompt-tokens", "8,300", "--new-tokens", "4", "--threads", "1,2", target=GENERATE,
    )  # fmt: skip
    result.assert_outcomes(passed=2, skipped=2)
    ttft = [r["params"] for r in report["results"] if r["metric"] == "ttft_seconds"]
    assert sorted(p["threads"] for p in ttft) == [1, 2]
    assert {(p["prompt_tokens"], p["new_tokens"]) for p in ttft} == {(8, 4)}
    skips = [t["message"] for t in report["tests"]["not_passed"] if t["outcome"] == "skipped"]
    assert all("holds 256 positions; this shape needs 304" in message for message in skips)
    options = report["run"]["options"]
    assert options["prompt_tokens"] == [8, 300] and options["threads_swept"] == [1, 2]
    assert report["models"][str(tiny_gpt2_dir)]["load_count"] == 1, "threads reload nothing"
    roofs = [r["params"] for r in report["results"] if r["metric"] == "matmul_throughput"]
    assert sorted(p["threads"] for p in roofs) == [1, 2], "roofs calibrated per thread count"


def test_batch_sizes_always_include_batch_one(pytester, tiny_gpt2_dir):
    result, (report,) = run_benches(
        pytester, "-m", "slow", "-k", "test_batch_scaling", "--models", str(tiny_gpt2_dir),
        *QUICK, "--batch-sizes", "3", target=BATCH,
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    batches = [r["params"]["batch"] for r in report["results"] if r["metric"] == "batch_throughput"]
    assert batches == [1, 3]


@pytest.mark.parametrize("text", ["", "1,x", "0,2", "2,2", "-1"])
def test_a_bad_list_is_one_sentence(text):
    with pytest.raises(ValueError, match="distinct positive whole numbers"):
        parse_counts(text, "--new-tokens")


def test_a_bad_list_on_the_command_line_is_a_usage_error(pytester):
    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]')
    result = pytester.runpytest("--threads", "two")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--threads takes distinct positive whole numbers*'two'*"])


def test_one_new_token_is_a_usage_error_in_one_sentence(pytester):
    """There is no decode step with one new token (it ended in StatisticsError before)."""
    pytester.makeconftest('pytest_plugins = ["lmgauge.pytest_plugin.plugin"]')
    result = pytester.runpytest("--new-tokens", "1,32")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--new-tokens 1,32 is refused*no decode step*"])
    assert "Traceback" not in result.stderr.str()
