"""A whole A/B run: two sides interleaved on this machine, judged pair by pair, written and
stored. `lmgauge ab` is a thin shell over `run_ab`.

What a run costs: the first pair runs every selected test on both sides. Figures that are not
timings (counts, accuracy, perplexity, fidelity, memory) cannot change between runs of one
side's code, so the later pairs repeat only the tests that recorded a timing in that side's
first run (the others that recorded a figure or a text are passed to pytest as --deselect).
While a model family of gated timings is borderline (beyond the tolerance but not yet
significant, or "same" by less than half of it with its upper confidence bound beyond it;
lmgauge.judge.family), pairs are added, up to `max_runs`; a family still beyond the tolerance
without significance then was not judged, and fails the run. The false-alarm rate of this rule
is measured by simulation (lmgauge.judge.gate_sim), not assumed. A test that failed on the new
side and in no base run, or was skipped there (not on a measurement) or not run and passed in a
base run, stops the run after that pair (`stopped_early`): no later pair can pass it.

Every run gets `--round-budget 0 --rounds 3` first (a user's own, later on the line, win): the
pair is the unit here, so a run needs a few rounds, not the extra rounds that narrow one run's
interval. The later runs also get
`--no-calibration` (when the side's code knows it and no rule gates a roof; repeat_arguments):
the roofs and the roofline figures computed from them are then shown from each side's first
run, not judged (lmgauge.runs.ab_report; none is gated by default), and a run saves the
calibration at both ends (1.9 to 2.3 s at 2 threads on the AMD EPYC VM).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lmgauge.errors import LmgaugeError, ReportError
from lmgauge.judge.compare import (
    failed_on_both_sides,
    passed_unlisted,
    test_regressions,
    unexplained_failure,
)
from lmgauge.judge.family import judged_timing
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.paired import MIN_PAIRS_FOR_SIGNIFICANCE, zero_valued
from lmgauge.judge.verdicts import NOT_JUDGED
from lmgauge.record.report import read_report, strict_json, write_text_atomic
from lmgauge.record.units import MACHINE_BOUND_UNITS
from lmgauge.runs.ab_report import (
    ab_document,
    ab_markdown,
    judged_rows,
    verdict_line,
)
from lmgauge.runs.ab_run import RunRecord, complete_pairs, describe_failure, pair_order, run_one
from lmgauge.runs.ab_sides import Side

MIN_RUNS = 3
"""Fewest runs a side; fewer is refused up front (the verdict could judge nothing)."""
MAX_RUNS = 12
"""Default most pairs (--max-runs): pairs are added while a family is borderline, and one still
beyond the tolerance without significance at the last fails; simulated whole runs of five
families failed 3.0 % of same-code runs at 8 and 0.45 % at 12 (lmgauge.judge.gate_sim)."""
RUN_DEFAULTS = ["--round-budget", "0", "--rounds", "3"]
"""pytest arguments every A/B run gets before the user's (see the module docstring). Three
rounds: a run's value is the median of its rounds, and with the round noise measured here
(0.018 in log time) that median moves by about 0.013 with 3 rounds and 0.010 with 5, against
run drifts of 0.022-0.07 that every pair carries whole: the pairs, not the rounds, decide."""
NO_CALIBRATION = "--no-calibration"
"""What the runs that repeat only timed tests get (see the module docstring), when the side's
code knows it: its first report's metric entries carry `from_calibration` (added together with
the option), so a git ref older than the option is never given it."""


@dataclass(frozen=True)
class AbPlan:
    """base, new: the sides; pytest_arguments: what each run gets; runs: pairs run first;
    max_runs: most pairs, added while a model family is borderline; out: the run's folder."""

    base: Side
    new: Side
    pytest_arguments: list[str]
    runs: int
    max_runs: int
    out: Path
    rules: GateRules

    def check(self) -> None:
        check_counts(self.runs, self.max_runs)
        if not self.pytest_arguments:
            raise LmgaugeError("give the pytest arguments after --, e.g. -- benches -m 'not slow'.")
        for where, arguments in (("the pytest arguments", self.pytest_arguments),
                                 ("--base-args", self.base.arguments),
                                 ("--new-args", self.new.arguments)):  # fmt: skip
            if any(argument.split("=")[0] == "--gate" for argument in arguments):
                raise LmgaugeError(
                    f"{where} hold --gate: a side run gated against a stored baseline fails on "
                    "that baseline's verdict, not on the other side; lmgauge ab judges the "
                    "sides against each other by itself."
                )


def check_counts(runs: int, max_runs: int) -> None:
    """LmgaugeError in one sentence when the run counts could never give a verdict."""
    if runs < MIN_RUNS:
        raise LmgaugeError(
            f"--runs {runs} is too few: a paired verdict needs at least {MIN_RUNS} runs a side "
            f"({MIN_PAIRS_FOR_SIGNIFICANCE} pairs for a rank test to reach p < 0.05; more are "
            f"added while a model family is borderline)."
        )
    if max_runs < max(runs, MIN_PAIRS_FOR_SIGNIFICANCE):
        raise LmgaugeError(
            f"--max-runs {max_runs} is too few: it must be at least --runs ({runs}) and "
            f"{MIN_PAIRS_FOR_SIGNIFICANCE}, the fewest pairs with which a change can be judged."
        )


@dataclass
class AbOutcome:
    document: dict
    report: Path
    markdown: Path


def repeat_arguments(report: dict, rules: GateRules) -> list[str]:
    """pytest arguments of a side's later runs, from its first run's `report`: --no-calibration
    when its code knows the option, it calibrated, and `rules` gate none of the figures that
    need the calibration (a gated one is then measured in every run and judged pair by pair);
    then timed_only's --deselect arguments."""
    metrics = report.get("metrics")
    named = metrics.items() if isinstance(metrics, dict) else ()
    entries = [(name, entry) for name, entry in named
               if isinstance(entry, dict) and entry.get("from_calibration")]  # fmt: skip
    gated = any(rules.rule_for(name, entry.get("unit", "")).gated for name, entry in entries)
    skip = [NO_CALIBRATION] if entries and not gated else []
    return [*skip, *timed_only(report)]


def timed_only(report: dict) -> list[str]:
    """--deselect arguments for every test of `report` that recorded figures or texts but no
    timing: what it records cannot change between runs of the same code (greedy outputs are
    texts of a fixed model on fixed prompts)."""
    units: dict[str, set] = {}
    for text in report.get("texts") or []:
        if isinstance(text, dict) and text.get("test"):
            units.setdefault(text["test"], set())
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
    repeat: dict[str, list[str]] = {}
    status, pair, stopped = "complete", 0, None
    try:
        while status == "complete" and pair < plan.max_runs:
            if pair >= plan.runs and not undecided(records, plan.rules):
                break
            for label in pair_order(pair):
                arguments = [*RUN_DEFAULTS, *plan.pytest_arguments, *repeat.get(label, [])]
                progress(f"lmgauge ab: pair {pair + 1}, {label} ({sides[label].description})"
                         + (", timed tests only" if label in repeat else ""))  # fmt: skip
                record = run_one(sides[label], pair, len(records) + 1, arguments, plan.out,
                                 timed_only=label in repeat)  # fmt: skip
                records.append(record)
                if not record.usable:
                    status = describe_failure(record)
                    break
                if gated := gated_side(record):
                    status = gated
                    break
                if unexplained := unexplained_failure(run_report(record), "it"):
                    status = f"{describe_failure(record)}: {unexplained}"
                    break
                if label not in repeat:
                    repeat[label] = repeat_arguments(run_report(record), plan.rules)
            pair += 1
            if status == "complete" and pair == 1 and not any(map(records_timing, records)):
                break  # nothing timed: one pair judges every figure there is
            if status == "complete" and (stopped := stop_reason(records, pair)):
                progress(f"lmgauge ab: {stopped}")
                break
    except KeyboardInterrupt:
        status = "interrupted"
    return write_outcome(plan, records, status, stopped)


def gated_side(record: RunRecord) -> str:
    """A sentence when the side run gated itself against a stored baseline (--gate that came
    from addopts, PYTEST_ADDOPTS or a conftest, past AbPlan.check): its exit status then says
    that baseline's verdict, not this A/B run's; "" otherwise."""
    gate = run_report(record)["run"].get("gate")
    if gate is None:
        return ""
    base = gate.get("base") if isinstance(gate, dict) else gate
    return (f"the {record.side} run of pair {record.pair + 1} was gated against {base} (--gate "
            "from addopts, PYTEST_ADDOPTS or a conftest): a side gated against a stored "
            "baseline fails on that baseline's verdict, not on the other side; remove it from "
            "what the side runs read")


def stop_reason(records: list[RunRecord], pairs: int) -> str | None:
    """Why no later pair can pass the A/B run, or None: a test failed or errored in a new run
    and in no base run, or was skipped or not run in the new runs and passed in a base run (a
    regression whatever the later pairs show: should a later base run fail it too, it fails on
    both sides, which fails the run as well)."""
    base_runs, new_runs = complete_pairs(records)
    if unlisted := passed_unlisted(base_runs, new_runs):
        return f"stopped after pair {pairs}: {unlisted}, and no later pair can change that"
    regressions = test_regressions(base_runs, new_runs)
    if not regressions:
        return None
    first, what = regressions[0].split(": ", 1)
    if what.startswith("skipped in new"):
        how = "was skipped on the new side and passed in a base run"
    elif what.startswith("not run in new"):
        how = ("was not run on the new side and passed in a base run (a test removed on purpose "
               "is deselected on the base side too, with --base-args)")  # fmt: skip
    else:
        how = "failed on the new side and in no base run"
    others = len(regressions) - 1
    more = f" (and {others} more test regression{'s' if others > 1 else ''})" if others else ""
    return (f"stopped after pair {pairs}: {first} {how}{more}, so no later pair can pass this "
            "A/B run")  # fmt: skip


def records_timing(record: RunRecord) -> bool:
    """Whether the run's report holds a timing figure."""
    results = run_report(record)["results"]
    return any(result["unit"] in MACHINE_BOUND_UNITS for result in results)


def run_report(record: RunRecord) -> dict:
    """The report a run wrote; LmgaugeError in one sentence when it does not read as one."""
    try:
        return read_report(record.report)
    except ReportError as error:
        raise LmgaugeError(f"the {record.side} run of pair {record.pair + 1} wrote a report "
                           f"lmgauge cannot read: {error}") from None  # fmt: skip


def undecided(records: list[RunRecord], rules: GateRules) -> bool:
    """Whether more pairs could change the verdict on the complete pairs so far: a model family
    of gated timings is borderline (worse beyond the tolerance but not significant, or "same"
    by less than half of it with its upper confidence bound beyond it), or a gated timing
    beyond the tolerance the worse way is not judged yet (its rank test needs 5 pairs, or a
    goodput with zeros is not significant yet)."""
    return undecided_pairs(*complete_pairs(records), rules)


def undecided_pairs(base_runs: list[dict], new_runs: list[dict], rules: GateRules) -> bool:
    """`undecided` on the report documents of complete pairs, base and new in pair order."""
    if not base_runs:
        return False
    rows, families = judged_rows(base_runs, new_runs, rules)
    waiting = any(row["verdict"] == NOT_JUDGED and row["fails_gate"] and decidable(row)
                  for row in rows)  # fmt: skip
    return waiting or any(family.borderline for family in families)


def decidable(row: dict) -> bool:
    """Whether more pairs could judge `row`: a timing with finite positive values in every run,
    or a rate whose zero is a measured value (goodput) in pairs `judge_with_zeros` can judge."""
    return judged_timing(row) or zero_valued(row["metric"], row["base_runs"], row["new_runs"])


def write_outcome(
    plan: AbPlan, records: list[RunRecord], status: str, stopped: str | None = None
) -> AbOutcome:
    base_runs, new_runs = complete_pairs(records)
    rows, families = judged_rows(base_runs, new_runs, plan.rules) if base_runs else ([], [])
    sides = {side.label: side.facts() for side in (plan.base, plan.new)}
    document = ab_document(sides, plan.pytest_arguments, records, status, rows,
                           test_regressions(base_runs, new_runs), families,
                           failed_on_both_sides(base_runs, new_runs), stopped,
                           passed_unlisted(base_runs, new_runs))  # fmt: skip
    report = write_text_atomic(strict_json(document) + "\n", plan.out / "ab.json")
    markdown = write_text_atomic(ab_markdown(document), plan.out / "ab.md")
    return AbOutcome(document, report, markdown)


__all__ = ["AbOutcome", "AbPlan", "MAX_RUNS", "MIN_RUNS", "check_counts", "repeat_arguments",
           "run_ab",
           "timed_only",
           "undecided_pairs",
           "verdict_line"]  # fmt: skip
