"""`lmgauge ab` as a user runs it: two sides interleaved, judged pair by pair. One test per kind
of side (pytest arguments, a Python environment, git refs), each on a tiny model."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lmgauge.judge.gate import DEFAULT_RULES
from lmgauge.judge.gate_rules import load_gate_rules
from lmgauge.judge.paired import judge_paired
from lmgauge.runs.ab_run import run_order
from tests.conftest import PROJECT

RULES = load_gate_rules(DEFAULT_RULES)
DOUBLED = "--inject-slowdown 1.0"
TRIPLED = "--inject-slowdown 2.0"


def bench_arguments(model: Path) -> list[str]:
    return [
        "benches/bench_generate.py", "-m", "not slow", "--models", str(model), "--threads", "1",
        "--rounds", "3", "--round-budget", "0", "--benchmark-disable",
    ]  # fmt: skip


def lmgauge_ab(folder: Path, *options: str, pytest_args=(), env=None):
    return subprocess.run(
        [sys.executable, "-m", "lmgauge.cli.main", "ab", *options, "--", *pytest_args],
        cwd=folder, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(folder), **(env or {})},
    )  # fmt: skip


def ab_report(report_dir: Path) -> dict:
    (path,) = report_dir.glob("ab-*/ab.json")
    assert path.with_name("ab.md").is_file()
    return json.loads(path.read_text())


def decode_row(document: dict) -> dict:
    (row,) = [r for r in document["rows"] if r["metric"] == "decode_step_seconds"]
    return row


def test_runs_alternate_a_b_b_a():
    assert run_order(3) == [("base", 0), ("new", 0), ("new", 1), ("base", 1), ("base", 2),
                            ("new", 2)]  # fmt: skip


def test_paired_verdicts_on_known_values():
    same = judge_paired([1.0, 1.2, 0.9, 1.1], [1.01, 1.19, 0.91, 1.1], "s", "lower", "x_s", RULES)
    assert same.verdict == "same"
    slower = judge_paired([1.0, 1.2, 0.9, 1.1], [1.16, 1.37, 1.03, 1.27], "s", "lower", "x", RULES)
    assert slower.verdict == "worse" and slower.fails_gate and 1.1 < slower.ratio < 1.2
    assert slower.ci_low > 1.0 and slower.p_value < 0.01
    noisy = judge_paired([1.0, 1.0, 1.0, 1.0], [1.5, 0.8, 1.6, 0.9], "s", "lower", "x", RULES)
    assert noisy.verdict == "too noisy"
    faster = judge_paired([10.0, 12, 9, 11], [13.0, 15.7, 11.6, 14.4], "tokens/s", "higher",
                          "decode_tokens_per_second", RULES)  # fmt: skip
    assert faster.verdict == "better" and not faster.fails_gate
    counts = judge_paired([5, 5, 5], [6, 6, 6], "count", "exact", "parameters_total", RULES)
    assert counts.verdict == "changed" and counts.fails_gate


def test_extra_pytest_arguments_as_a_side(tmp_path, tiny_gpt2_dir):
    reports = tmp_path / "reports"
    done = lmgauge_ab(PROJECT, "--new-args", DOUBLED, "--runs", "3", "--report-dir",
                      str(reports), pytest_args=bench_arguments(tiny_gpt2_dir))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "lmgauge ab: FAILED (3 pairs)" in done.stdout
    assert f"verdict stored as A/B run 1 in sqlite:///{reports}/lmgauge.db" in done.stdout
    document = ab_report(reports)
    row = decode_row(document)
    assert row["verdict"] == "worse" and row["ratio"] > 1.5 and len(row["new_runs"]) == 3
    assert document["sides"]["new"]["arguments"] == DOUBLED.split()
    assert [run["side"] for run in document["runs"]] == [
        "base",
        "new",
        "new",
        "base",
        "base",
        "new",
    ]


def test_another_python_environment_as_a_side(tmp_path, tiny_gpt2_dir):
    """A wrapper interpreter whose environment makes every forward pass three times as slow
    stands for an environment with a slower library version. Four pairs, not three: with a
    sub-millisecond tiny model, one disturbed pair of three once left a doubled step "too
    noisy" (ratio 1.44, interval 0.62-3.3) on a busy CI machine."""
    wrapper = tmp_path / "slow-python"
    wrapper.write_text(f'#!/bin/sh\nPYTEST_ADDOPTS="{TRIPLED}" exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    reports = tmp_path / "reports"
    done = lmgauge_ab(PROJECT, "--new", f"python:{wrapper}", "--runs", "4", "--report-dir",
                      str(reports), pytest_args=bench_arguments(tiny_gpt2_dir))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    document = ab_report(reports)
    assert document["sides"]["new"]["python"] == str(wrapper)
    assert decode_row(document)["verdict"] == "worse"


def test_two_git_refs_as_sides(tmp_path, tiny_gpt2_dir):
    """A clone whose second commit doubles every forward pass: base is its parent."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)
    plugin = clone / "lmgauge" / "pytest_plugin" / "options.py"
    text = plugin.read_text()
    slowed = text.replace("        default=0.0,\n        metavar=\"FRACTION\"",
                          "        default=1.0,\n        metavar=\"FRACTION\"")  # fmt: skip
    assert slowed != text, "the --inject-slowdown default moved; update this test"
    plugin.write_text(slowed)
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-qam", "slower"], check=True)
    reports = tmp_path / "reports"
    done = lmgauge_ab(clone, "--base", "HEAD~1", "--new", "HEAD", "--runs", "3",
                      "--report-dir", str(reports),
                      pytest_args=bench_arguments(tiny_gpt2_dir))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    document = ab_report(reports)
    assert document["sides"]["base"]["commit"] != document["sides"]["new"]["commit"]
    assert decode_row(document)["verdict"] == "worse"
    assert (clone / ".lmgauge" / "worktrees").is_dir()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--runs", "1"], "--runs 1 is too few"),
        (["--base", "no-such-ref"], "'no-such-ref' is not a git ref"),
        (["--new", "python:/no/python"], "is not an executable Python interpreter"),
        (["--new", "python:/bin/true"], "cannot run the benches"),
    ],
)
def test_bad_input_is_one_sentence(tmp_path, options, message):
    done = lmgauge_ab(PROJECT, *options, "--report-dir", str(tmp_path), pytest_args=["benches"])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("lmgauge: ") and message in done.stderr
    assert "Traceback" not in done.stderr


def test_identical_sides_are_an_a_a_run_said_in_one_sentence(tmp_path, tiny_gpt2_dir):
    reports = tmp_path / "reports"
    done = lmgauge_ab(PROJECT, "--runs", "3", "--report-dir", str(reports),
                      pytest_args=bench_arguments(tiny_gpt2_dir))  # fmt: skip
    assert "this is an A/A run" in done.stderr and done.stderr.count("\n") == 1
    assert done.returncode in (0, 1), done.stderr
    assert len(ab_report(reports)["runs"]) == 6


def test_a_run_killed_mid_way_stops_the_a_b_run_in_one_sentence_and_keeps_the_rest(
    tmp_path, tiny_gpt2_dir
):
    killer = tmp_path / "killed-python"
    killer.write_text(
        f'#!/bin/sh\nif [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi\nkill -9 $$\n'
    )
    killer.chmod(0o755)
    reports = tmp_path / "reports"
    done = lmgauge_ab(PROJECT, "--new", f"python:{killer}", "--runs", "3", "--report-dir",
                      str(reports), pytest_args=bench_arguments(tiny_gpt2_dir))  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the new run of pair 1 was killed by SIGKILL" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    document = ab_report(reports)
    assert document["status"].startswith("the new run") and not document["passed"]
    assert [run["side"] for run in document["runs"]] == ["base", "new"]
    assert document["runs"][0]["report"], "the base run that finished is kept"


def test_a_side_whose_environment_cannot_be_built_is_one_sentence(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)
    (clone / "pyproject.toml").write_text(
        "[project]\nname = 'broken'\ndependencies = ['no-such-package-xyz==0']\n"
    )
    shutil.copy(PROJECT / "dev", clone / "dev")
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-qam", "broken deps"], check=True)
    done = lmgauge_ab(
        clone, "--base", "HEAD~1", "--new", "HEAD", "--report-dir", str(tmp_path),
        pytest_args=["benches"], env={"LMGAUGE_TORCH": "no-such-torch==0"},
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could not be built" in done.stderr and "Traceback" not in done.stderr
