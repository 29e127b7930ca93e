"""A whole A/B run: two sides interleaved on this machine, judged pair by pair, written and
stored. `lmgauge ab` is a thin shell over `run_ab`.

What a run costs: the first pair runs every selected test on both sides. Figures that are not
timings (counts, accuracy, perplexity, fidelity, memory) cannot change between runs of one
side's code, so the later pairs repeat only the tests that recorded a timing in that side's
first run (the others are passed to pytest as --deselect). When a gated timing is borderline
(beyond the tolerance but not yet significant, or too few pairs to test), pairs are added, up
to `max_runs`: the signed-rank test needs 5 pairs to reach p < 0.05. The false-alarm rate of
this rule is measured by simulation (lmgauge.judge.gate_sim), not assumed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lmgauge.errors import LmgaugeError
from lmgauge.judge.drift import MACHINE_BOUND_UNITS
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.paired import borderline
from lmgauge.judge.verdicts import Judgement
from lmgauge.record.report import write_text_atomic
from lmgauge.runs.ab_report import (
    ab_document,
    ab_markdown,
    paired_rows,
    test_regressions,
    verdict_line,
)
from lmgauge.runs.ab_run import RunRecord, complete_pairs, describe_failure, run_one
from lmgauge.runs.ab_sides import Side

MIN_RUNS = 3
"""Fewest runs a side; fewer is refused up front (the verdict could judge nothing)."""


@dataclass(frozen=True)
class AbPlan:
    """base, new: the sides; pytest_arguments: what each run gets; runs: pairs run first;
    max_runs: most pairs, added while a gated timing is borderline; out: the run's folder."""

    base: Side
    new: Side
    pytest_arguments: list[str]
    runs: int
    max_runs: int
    out: Path
    rules: GateRules

    def check(self) -> None:
        if self.runs < MIN_RUNS:
            raise LmgaugeError(
                f"--runs {self.runs} is too few: a paired verdict needs at least {MIN_RUNS} runs "
                f"a side (5 pairs are needed for a rank test to reach p < 0.05; more are added "
                f"while a verdict is borderline)."
            )
        if self.max_runs < self.runs:
            raise LmgaugeError(f"--max-runs {self.max_runs} is below --runs {self.runs}.")
        if not self.pytest_arguments:
            raise LmgaugeError("give the pytest arguments after --, e.g. -- benches -m 'not slow'.")


@dataclass
class AbOutcome:
    document: dict
    report: Path
    markdown: Path


def order_of(pair: int) -> tuple[str, str]:
    """A B for even pairs, B A for odd ones (A B B A A B ...)."""
    return ("base", "new") if pair % 2 == 0 else ("new", "base")


def timed_only(report: dict) -> list[str]:
    """--deselect arguments for every test of `report` that recorded figures but no timing:
    its figures cannot change between runs of the same code."""
    units: dict[str, set] = {}
    for result in report["results"]:
        if result.get("test"):
            units.setdefault(result["test"], set()).add(result["unit"])
    untimed = [test for test, seen in units.items() if not seen & set(MACHINE_BOUND_UNITS)]
    return [argument for test in untimed for argument in ("--deselect", test)]


def run_ab(plan: AbPlan, progress: Callable[[str], None] = print) -> AbOutcome:
    """Run, judge, write ab.json and ab.md; the document says whether it passed and why not."""
    plan.check()
    sides = {"base": plan.base, "new": plan.new}
    records: list[RunRecord] = []
    deselect: dict[str, list[str]] = {}
    status, pair = "complete", 0
    try:
        while status == "complete" and pair < plan.max_runs:
            if pair >= plan.runs and not undecided(records, plan.rules):
                break
            for label in order_of(pair):
                arguments = [*plan.pytest_arguments, *deselect.get(label, [])]
                progress(f"lmgauge ab: pair {pair + 1}, {label} ({sides[label].description})"
                         + (", timed tests only" if label in deselect else ""))  # fmt: skip
                record = run_one(sides[label], pair, len(records) + 1, arguments, plan.out,
                                 timed_only=label in deselect)  # fmt: skip
                records.append(record)
                if not record.usable:
                    status = describe_failure(record)
                    break
                if label not in deselect:
                    deselect[label] = timed_only(json.loads(record.report.read_text()))
            pair += 1
    except KeyboardInterrupt:
        status = "interrupted"
    return write_outcome(plan, records, status)


def undecided(records: list[RunRecord], rules: GateRules) -> bool:
    """Whether a gated timing is borderline on the complete pairs so far."""
    base_runs, new_runs = complete_pairs(records)
    rows = paired_rows(base_runs, new_runs, rules) if base_runs else []
    return any(borderline(Judgement(row["verdict"], row["ratio"], row["change"],
                                    row["p_value"]), row["gated"]) for row in rows)  # fmt: skip


def write_outcome(plan: AbPlan, records: list[RunRecord], status: str) -> AbOutcome:
    base_runs, new_runs = complete_pairs(records)
    rows = paired_rows(base_runs, new_runs, plan.rules) if base_runs else []
    sides = {side.label: side.facts() for side in (plan.base, plan.new)}
    document = ab_document(
        sides, plan.pytest_arguments, records, status, rows, test_regressions(base_runs, new_runs)
    )
    report = write_text_atomic(json.dumps(document, indent=2, allow_nan=False) + "\n",
                               plan.out / "ab.json")  # fmt: skip
    markdown = write_text_atomic(ab_markdown(document), plan.out / "ab.md")
    return AbOutcome(document, report, markdown)


__all__ = ["AbOutcome", "AbPlan", "MIN_RUNS", "run_ab", "timed_only", "verdict_line"]
