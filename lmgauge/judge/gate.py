"""The gate: does a new run pass against a base run (or a baseline of several runs)? Used by
`lmgauge gate` and by `pytest benches --gate=BASE`.

A run fails the gate, each with a sentence saying why, when: a gated figure (lmgauge/judge/
gate.toml) got worse beyond its tolerance and, for timings, beyond the run-to-run spread with
the family of gated timings controlled (lmgauge.judge.compare); an exact figure such as a
parameter count changed; a gated figure is on one side only, not a finite number, or has
nothing to be judged by; a model family (a model's gated timings in one setup, judged together
against a base of several runs: lmgauge.judge.run_family) got worse; a test failed or errored in
the new run (whether or not it did in the base: a test that failed on both sides is broken,
and in setup or call it measured nothing that could be judged); the new run (any run of a new
side of several) did not finish; or the gate judged no gated figure at all. It fails closed:
what it could not judge is a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lmgauge.judge.compare import BUSY_BASE, Comparison, compare
from lmgauge.judge.gate_rules import GateRules, load_gate_rules
from lmgauge.judge.spread import MIN_SPREAD_RUNS, Baseline
from lmgauge.judge.verdicts import NOISY, value_text

DEFAULT_RULES = Path(__file__).with_name("gate.toml")


@dataclass
class GateResult:
    comparison: Comparison
    alpha: float = 0.05

    @property
    def failures(self):
        return self.comparison.gate_failures()

    @property
    def passed(self) -> bool:
        return self.nothing_got_worse and not self.comparison.tests_failed_before

    @property
    def failed_only_on_broken_tests(self) -> bool:
        """Failed, and only because tests failed on both sides: the code is broken on both,
        nothing measured got worse (a same-code pair that fails this way is no false alarm)."""
        return self.nothing_got_worse and bool(self.comparison.tests_failed_before)

    @property
    def failed_only_on_a_busy_base(self) -> bool:
        """Failed, and only on gated timings that the base measured only while the machine was
        busy (not judged): the base is to be made again, nothing measured got worse."""
        failures = self.failures
        return (
            not failures.empty and bool((failures["note"] == BUSY_BASE).all())
            and self.clean_but_for_figures and not self.comparison.tests_failed_before
        )  # fmt: skip

    @property
    def nothing_got_worse(self) -> bool:
        """Every gated figure judged and none worse, no test newly failing, the new side
        finished, and at least one gated figure judged."""
        return self.failures.empty and self.clean_but_for_figures

    @property
    def clean_but_for_figures(self) -> bool:
        """No test newly failing, at least one gated figure judged, the new side finished, the
        base not slowed, and no model family worse: all but the figures' own verdicts."""
        comparison = self.comparison
        return (
            not comparison.tests and comparison.judged() > 0 and not comparison.unfinished
            and not comparison.base_slowed and not self.worse_families
        )  # fmt: skip

    @property
    def worse_families(self) -> list:
        return [verdict for verdict in self.comparison.families if verdict.worse]  # fmt: skip

    def message(self) -> str:
        """Multi-line verdict: PASSED or FAILED with every failing figure and test, and the
        false-alarm rate the gate expects of a run of the same code."""
        comparison = self.comparison
        gated = int(comparison.rows["gated"].sum())
        judged = comparison.judged()
        new_side = (f" (the new side: the median of {comparison.new_runs} runs)"
                    if comparison.new_runs > 1 else "")  # fmt: skip
        source = spread_source(comparison.base_runs)
        shared = (f"{comparison.family} figures judged by their run-to-run spread ({source}) "
                  f"and {len(comparison.families)} model families (each model's timings in one "
                  "setup, judged together)"
                  if comparison.families else
                  f"{comparison.family} figures judged by their run-to-run spread "
                  f"({source})")  # fmt: skip
        scope = (
            f"{judged} of {gated} gated figures judged against "
            f"{comparison.base_runs} base run{'s' if comparison.base_runs > 1 else ''}"
            f"{new_side}; {shared} share a false-alarm rate of at most {100 * self.alpha:g} % "
            "per run"
        )
        if self.passed:
            return "\n".join([f"lmgauge gate: PASSED ({scope}; none worse beyond tolerance)",
                              *noisy_lines(comparison.rows),
                              *unresolved_family_lines(comparison.families),
                              *context_lines(comparison)])  # fmt: skip
        lines = [f"lmgauge gate: FAILED ({scope})"]
        if comparison.unfinished:
            lines.append(f"  {comparison.unfinished}")
        if comparison.base_slowed:
            lines.append(f"  {comparison.base_slowed}")
        if judged == 0:
            lines.append("  the gate judged no gated figure: a gate that compared nothing fails")
        lines += [f"  test {line}" for line in comparison.tests + comparison.tests_failed_before]
        lines += [f"  model family {verdict.sentence()}" for verdict in self.worse_families]
        lines += context_lines(comparison)
        lines += failure_lines(self.failures, comparison.rows)
        return "\n".join(lines)


def failure_lines(failures, rows) -> list[str]:
    """One line per failing figure; but one line per subject (a model in a configuration) whose
    every figure is missing from the new run, with its count."""
    subjects = rows.apply(row_subject, axis=1)
    present = set(subjects[rows["verdict"] != "only in base"])
    failing = subjects[failures.index]
    absent = failures[(failures["verdict"] == "only in base") & ~failing.isin(present)]
    lines = [
        f"  {subject}: all {count} gated figures missing from the new run (the subject did not "
        f"run there: left out of --models, --configs or -k, another tier, or it failed to load)"
        for subject, count in failing[absent.index].value_counts(sort=False).items()
    ]
    return lines + [failure_line(row) for row in failures.drop(absent.index).itertuples()]


def row_subject(row) -> str:
    """`model` or `model@config`, from a compared row's model and params text."""
    configs = [part for part in str(row["params"]).split() if part.startswith("config=")]
    return f"{row['model']}@{configs[0].removeprefix('config=')}" if configs else row["model"]


def spread_source(base_runs: int) -> str:
    """Where the run-to-run spreads came from, in words."""
    if base_runs >= MIN_SPREAD_RUNS:
        return (f"estimated from the {base_runs} base runs where they have the figure, else "
                "gate.toml's stated one")  # fmt: skip
    return f"gate.toml's stated spreads: a spread is estimated from {MIN_SPREAD_RUNS} base runs"


def noisy_lines(rows: pd.DataFrame) -> list[str]:
    """A line when gated figures moved beyond their tolerance the worse way but within what
    runs of the same code do ("too noisy"): passed, not cleared; the largest relative move is
    named. The worse way is read from the values and the direction, not from the ratio, which
    is blank (nan) where a value is at or below zero."""
    noisy = rows[(rows["verdict"] == NOISY) & rows["gated"].astype(bool)]
    base, new = noisy["base"].astype(float), noisy["new"].astype(float)
    lower = noisy["direction"] == "lower"
    worse_way = noisy[(lower & (new > base)) | (~lower & (new < base))]
    if worse_way.empty:
        return []
    moved = ((new - base) / base.abs()).abs()[worse_way.index]
    largest = worse_way.loc[moved.idxmax()]
    return [f"  {len(worse_way)} gated figure{'s' * (len(worse_way) > 1)} moved beyond tolerance "
            f"the worse way within their run-to-run noise (too noisy), the largest "
            f"{largest['metric']} of {largest['model']} ({largest['change']}): "
            "more runs on each side would tell"]  # fmt: skip


def unresolved_family_lines(families: list) -> list[str]:
    """A line per model family that moved beyond its tolerance the worse way but not
    significantly: a stored gate has no run to add, so it passes, and says it is not cleared."""
    return [f"  model family {verdict.sentence()}: not significant, so passed, not cleared; "
            "more runs on each side would tell"
            for verdict in families if verdict.unresolved]  # fmt: skip


def context_lines(comparison: Comparison) -> list[str]:
    """What differs between the runs besides the code, as `compare` shows it."""
    parts = (("machines differ", comparison.hardware), ("setup differs", comparison.setup),
             ("the machine's speed moved", comparison.drift))  # fmt: skip
    lines = [f"  {title}: {'; '.join(lines)}" for title, lines in parts if lines]
    return lines + ([f"  base: {comparison.base_busy}"] if comparison.base_busy else [])


def failure_line(row) -> str:
    p_value = "" if math.isnan(row.p_value) else f", p = {row.p_value:.3g}"
    if not math.isnan(row.p_adjusted):
        p_value += f", Holm-adjusted {row.p_adjusted:.3g}"
    note = f"; {row.note}" if row.note else ""
    return (
        f"  {row.model} {row.metric} {row.params}: {value_text(row.base)} -> "
        f"{value_text(row.new)} {row.unit} "
        f"({row.verdict}: {row.change or 'no change computed'}{p_value}; "
        f"tolerance {row.tolerance}{note})"
    )


def run_gate(
    base: dict | Baseline,
    new: dict | Baseline,
    rules: GateRules | None = None,
    base_name="base",
    new_name="new",
) -> GateResult:
    """`new` judged against `base` (each one report, or a Baseline of several runs of one
    code)."""
    rules = rules or load_gate_rules(DEFAULT_RULES)
    return GateResult(compare(base, new, rules, base_name, new_name), rules.alpha)


def gate_summary(result: GateResult, base_path: str) -> dict:
    """JSON-ready outcome for the run report's `run.gate`."""
    keys = ("model", "metric", "params", "base", "new", "verdict", "note")
    failures = result.failures
    return {
        "base": base_path,
        "passed": result.passed,
        "message": result.message(),
        "test_regressions": result.comparison.tests,
        "tests_failed_on_both_sides": result.comparison.tests_failed_before,
        "failures": [
            {key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in row.items()}
            for row in failures[list(keys)].to_dict(orient="records")
        ],
    }


def gate_verdict(gate: dict) -> str:
    """A report's `run.gate` (gate_summary) in a few words: "passed", or "FAILED (2 figures,
    1 test)" counting what failed it, or "FAILED (<its first reason>)" when neither did (a gate
    that judged nothing, a run that did not finish)."""
    if gate.get("passed"):
        return "passed"
    tests = [*(gate.get("test_regressions") or []), *(gate.get("tests_failed_on_both_sides") or [])]
    counts = [(len(gate.get("failures") or []), "figure"), (len(tests), "test")]
    parts = [f"{count} {noun}{'s' if count != 1 else ''}" for count, noun in counts if count]
    if not parts:
        lines = str(gate.get("message") or "").splitlines()
        parts = [lines[1].strip() if len(lines) > 1 else "see its message"]
    return f"FAILED ({', '.join(parts)})"
