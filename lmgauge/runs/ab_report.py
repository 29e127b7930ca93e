"""The A/B report: every figure of the paired runs judged pair by pair, as JSON and Markdown.

Format history (`format`: lmgauge-ab-report):
  1 (lmgauge 0.3): first version: status, sides, pytest arguments, runs (side, pair, report,
    exit status, seconds), rows (one per figure: model, bench, metric, params, unit, base and
    new medians over runs, per-run values, paired ratio with its 95 % interval, p-value,
    verdict, gated, fails_gate, note), passed.
  2 (lmgauge 0.4): strict JSON (no NaN: null); every figure of either side gets a row (a gated
    figure missing from some runs or not finite fails); `test_regressions` (tests that failed
    or errored on the new side and not on the base); `judged` (gated figures judged); runs
    gain `timed_only` (later runs repeat only the tests that recorded a timing); the paired
    test is Wilcoxon's signed rank with the Hodges-Lehmann ratio; `reasons` say why it failed.
    Later in 2: `pairs` counts the pairs whose two runs are usable (before: the runs of the
    side with fewer, a killed run included); `tests_failed_on_both_sides` (they fail the run
    too: what they measure was not judged); rows gain `direction` and, for worse timings,
    `family_worse`; `families` holds each model's gated timings judged together
    (lmgauge.judge.family), and a worse timing fails only when its family is worse or its
    change is large on its own. Later still: `stopped_early` (null, or why the run stopped
    before --runs pairs: a test failed on the new side and in no base run, so no later pair
    could pass it; it is then the first reason). Later still (2026-12-02): families gain
    `unresolved` (worse beyond the tolerance but not significant); a family still so when
    no pair can be added (--max-runs) fails the run, with a reason saying so, and so do its
    timings worse on their own (`fails_gate`). Before, it passed, and they did not fail.
    Later still (2026-12-04): families gain `upper`, the one-sided upper confidence bound of
    the ratio; a passing verdict names the widest family whose bound is beyond the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from lmgauge import __version__
from lmgauge.judge.compare import unit_problem
from lmgauge.judge.family import (
    LARGE,
    FamilyVerdict,
    confirm_by_family,
    family_of,
    family_verdicts,
    judged_timing,
)
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.keys import indexed
from lmgauge.judge.paired import judge_paired
from lmgauge.judge.spread import is_finite
from lmgauge.judge.verdicts import NOT_COMPARABLE, NOT_JUDGED, WORSE, Judgement
from lmgauge.record.ab_format import FORMAT, failing_rows_by_reason, reason_of
from lmgauge.record.metrics import METRICS
from lmgauge.record.report import finite_or_null
from lmgauge.record.units import MACHINE_BOUND_UNITS
from lmgauge.runs.ab_run import RunRecord, usable_pairs

SCHEMA_VERSION = 2


def paired_rows(base_runs: list[dict], new_runs: list[dict], rules: GateRules) -> list[dict]:
    """One judged row per figure found in any run of either side. Timings are judged pair by
    pair and must be in every run; other figures on the medians of the runs that have them (a
    run that repeats only timed tests leaves them out). The calibrated roofs and the figures
    computed from them are shown, not judged, when only each side's first run has them (the
    later runs got --no-calibration). What cannot be judged fails when gated."""
    base_index = [indexed(document) for document in base_runs]
    new_index = [indexed(document) for document in new_runs]
    keys = dict.fromkeys(key for index in base_index + new_index for key in index)
    rows = []
    for key in sorted(keys, key=str):
        model, bench, metric, params = key
        first = next(index[key] for index in new_index + base_index if key in index)
        unit, direction = first["unit"], first["direction"]
        rule = rules.rule_for(metric, unit)
        base = [index[key]["value"] if key in index else None for index in base_index]
        new = [index[key]["value"] if key in index else None for index in new_index]
        on_both_sides = any(v is not None for v in base) and any(v is not None for v in new)
        if problem := units_differ(key, base_index, new_index):
            gated = any(rules.rule_for(metric, index[key]["unit"]).gated
                        for index in base_index + new_index if key in index)  # fmt: skip
            rule = replace(rule, gated=gated)
            judgement = Judgement(NOT_COMPARABLE, math.nan, "", fails_gate=gated, note=problem)
        elif unit in MACHINE_BOUND_UNITS and None not in base + new:
            judgement = judge_paired(base, new, unit, direction, metric, rules)
        elif from_calibration(metric) and on_both_sides and None in base + new:
            judgement = Judgement(NOT_JUDGED, math.nan, "", fails_gate=rule.gated, note=(
                "measured in each side's first run only: the repeated runs skip the calibration"
            ))  # fmt: skip
        elif unit in MACHINE_BOUND_UNITS or not on_both_sides:
            judgement = missing_judgement(base, new, rule.gated)
        else:
            judgement = judge_medians(
                [v for v in base if v is not None], [v for v in new if v is not None],
                unit, direction, metric, rules,
            )  # fmt: skip
        finite = [v for v in base if is_finite(v)], [v for v in new if is_finite(v)]
        rows.append(
            {
                "model": model,
                "bench": bench,
                "metric": metric,
                "params": params,
                "unit": unit,
                "direction": direction,
                "base": float(np.median(finite[0])) if finite[0] else None,
                "new": float(np.median(finite[1])) if finite[1] else None,
                "base_runs": base,
                "new_runs": new,
                "gated": rule.gated,
                **asdict(judgement),
            }  # fmt: skip
        )
    return rows


def units_differ(key: tuple, base_index: list[dict], new_index: list[dict]) -> str:
    """A sentence when a figure's unit or direction differs between the sides (or between runs
    of one side), or its unit is one no rule knows (lmgauge.judge.compare.unit_problem); ""
    when its values can be compared."""
    found = [index[key] for index in base_index + new_index if key in index]
    first = found[0]
    for result in found:
        if problem := unit_problem(first["unit"], result["unit"], first["direction"],
                                   result["direction"]):  # fmt: skip
            return problem
    return ""


def from_calibration(metric: str) -> bool:
    """Whether `metric` is a roof or computed from one (left out by --no-calibration)."""
    known = METRICS.get(metric)
    return bool(known and known.from_calibration)


def judge_medians(base, new, unit, direction, metric, rules: GateRules):
    """A figure that is not a timing, from the runs of each side that have it (there may be
    one, when later runs repeat only timed tests): an exact figure must not differ between any
    base run and any new run; others are judged by their rule on each side's median."""
    if direction == "exact" or rules.rule_for(metric, unit).exact:
        every = [(b, n) for b in base for n in new]
        return judge_paired([b for b, _ in every], [n for _, n in every], unit, direction,
                            metric, rules)  # fmt: skip
    if not all(map(is_finite, [*base, *new])):
        return judge_paired(base, new, unit, direction, metric, rules)
    return judge_paired([float(np.median(base))], [float(np.median(new))], unit, direction,
                        metric, rules)  # fmt: skip


def missing_judgement(base: list, new: list, gated: bool) -> Judgement:
    """A figure missing from some runs: which, in one sentence."""
    gaps = [
        f"{side} run{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))}"
        for side, values in (("base", base), ("new", new))
        if (runs := [i + 1 for i, v in enumerate(values) if v is None])
    ]  # fmt: skip
    note = f"missing from {' and '.join(gaps)}" if gaps else "missing"
    if all(v is None for v in new):
        note = "vanished from the new side (" + note + ")"
    return Judgement(NOT_JUDGED, math.nan, "", fails_gate=gated, note=note)


def judged_rows(
    base_runs: list[dict], new_runs: list[dict], rules: GateRules
) -> tuple[list[dict], list[FamilyVerdict]]:
    """`paired_rows` with each worse timing confirmed by its model family, and the families."""
    rows = paired_rows(base_runs, new_runs, rules)
    families = family_verdicts(rows, rules.alpha, rules.paired_relative)
    return confirm_by_family(rows, families), families


def ab_document(
    sides: dict, pytest_arguments: list[str], records: list[RunRecord], status: str,
    rows: list[dict], regressions: list[str] | None = None,
    families: list[FamilyVerdict] | None = None, failed_on_both: list[str] | None = None,
    stopped_early: str | None = None, unlisted: str = "",
) -> dict:  # fmt: skip
    """The A/B report document (strict JSON: NaN is written as null); stopped_early: why the
    run stopped before its pairs were done, when a test regression ended it; unlisted: why the
    new runs' tests could not be checked (compare.passed_unlisted), "" when they could."""
    regressions = regressions or []
    failed_on_both = failed_on_both or []
    families = families or []
    cut_short = bool(stopped_early) or status != "complete"
    unresolved = [] if cut_short else [verdict for verdict in families if verdict.unresolved]
    rows = fail_worse_alone(rows, unresolved)
    failing = [row for row in rows if row["fails_gate"]]
    judged = sum(row["gated"] and row["verdict"] != NOT_JUDGED for row in rows)
    pairs = len(usable_pairs(records))
    waiting = [row for row in failing if cut_short and needs_more_pairs(row)]
    reasons = []
    if status != "complete":
        reasons.append(f"the A/B run did not complete: {status}")
    if stopped_early:
        reasons.append(stopped_early)
    if unlisted and unlisted not in (stopped_early or ""):
        reasons.append(unlisted)
    reasons += [f"test {line}" for line in regressions + failed_on_both]
    if not judged:
        reasons.append("no gated figure was judged: an A/B run that compared nothing fails")
    reasons += [verdict.sentence() for verdict in families if verdict.worse]
    reasons += [verdict.unresolved_sentence() for verdict in unresolved]
    if waiting:
        reasons.append(
            f"{len(waiting)} gated figure{'s' * (len(waiting) != 1)} beyond the tolerance after "
            f"{pairs} pair{'s' * (pairs != 1)} not judged: the run ended before a rank test "
            "could judge them"
        )
    reasons += [reason_of(row) for row in failing if not any(row is other for other in waiting)]
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "lmgauge_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(),
        "status": status,
        "stopped_early": stopped_early,
        "passed": not reasons,
        "reasons": reasons,
        "judged": judged,
        "test_regressions": regressions,
        "tests_failed_on_both_sides": failed_on_both,
        "families": finite_or_null(
            [{**asdict(verdict), "unresolved": verdict in unresolved} for verdict in families]
        ),
        "sides": sides,
        "pytest_arguments": pytest_arguments,
        "pairs": pairs,
        "runs": runs_of(records),
        "rows": finite_or_null(rows),
    }


def fail_worse_alone(rows: list[dict], unresolved: list[FamilyVerdict]) -> list[dict]:
    """The rows, each gated timing that is worse by its own rank test in an unresolved family
    failing the gate (its family could not confirm or clear it, and no pair can be added)."""
    names = {verdict.family for verdict in unresolved}
    if not names:
        return rows
    return [
        {**row, "fails_gate": True, "note": "worse on its own; its model family was unresolved "
         "at the last pair"}
        if judged_timing(row) and row["verdict"] == WORSE and family_of(row) in names else row
        for row in rows
    ]  # fmt: skip


def needs_more_pairs(row: dict) -> bool:
    """Whether a row is not judged only because its pairs were too few for its test (a rank
    test, or the means of a rate whose zero is a value)."""
    waits = ("not judged: the change is beyond the tolerance", "not judged: worse by more than")
    return row["verdict"] == NOT_JUDGED and (row.get("note") or "").startswith(waits)


def runs_of(records: list[RunRecord]) -> list[dict]:
    return [
        {
            **asdict(record),
            "report": str(record.report) if record.report else None,
            "log": str(record.log),
        }  # fmt: skip
        for record in records
    ]


def verdict_line(document: dict) -> str:
    """'lmgauge ab: PASSED ...' or 'lmgauge ab: FAILED ...' with every reason, one a line."""
    rows = document["rows"]
    gated = sum(row["gated"] for row in rows)
    judged = document.get("judged", gated)
    pairs = document["pairs"]
    head = f"{pairs} pair{'s' * (pairs != 1)}; {judged} of {gated} gated figures judged"
    if document["passed"]:
        return f"lmgauge ab: PASSED ({head}, none worse){power_note(document)}"
    lines = [f"lmgauge ab: FAILED ({head})"]
    failing = failing_rows_by_reason(document)
    reasons = document.get("reasons")
    for reason in map(str, reasons if isinstance(reasons, list) else []):
        row = failing.get(reason)
        lines.append(f"  {reason}" + (f" ({describe(row)})" if row else ""))
    return "\n".join(lines)


def power_note(document: dict) -> str:
    """A second line when a passing run's pairs leave some model family's upper confidence
    bound beyond its tolerance: a pass that cannot rule out a change of that size (the family
    read as better, or as within half the tolerance, adds no pair); "" otherwise."""
    open_families = [(math.inf if family["upper"] is None else family["upper"], family)
                     for family in document.get("families") or [] if "upper" in family]
    families = [(upper, family) for upper, family in open_families
                if upper > 1 + (family.get("tolerance") or 0)]  # fmt: skip
    if not families:
        return ""
    upper, widest = max(families, key=lambda pair: pair[0])
    size = "without bound" if math.isinf(upper) else f"up to {upper:.2f}x"
    return (f"\n  not ruled out: {widest['family']} could still be {size} "
            f"worse (the one-sided upper confidence bound over {widest['pairs']} pairs, beyond "
            f"the ±{100 * widest['tolerance']:g} % tolerance; "
            f"{len(families)} famil{'ies' if len(families) > 1 else 'y'} so): more pairs "
            "(--runs) would narrow it")


def describe(row: dict) -> str:
    """A failing row's values, change, interval and p-value; its note alone when it has no
    values to show (not judged, or missing on a side)."""
    if row.get("base") is None or row.get("new") is None:
        return row.get("note") or "not judged"
    interval = (
        f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" if row.get("ci_low") is not None else ""
    )
    p_value = f", p = {row['p_value']:.3g}" if row.get("p_value") is not None else ""
    ratio = f", ratio {row['ratio']:.3f}" if row.get("ratio") is not None else ""
    change = f"{row['base']:.4g} -> {row['new']:.4g} {row.get('unit', '')}".rstrip() + ratio
    note = f"; {row['note']}" if row.get("note") else ""
    return change + interval + p_value + note


def ab_markdown(document: dict) -> str:
    """The A/B report as Markdown: the sides, the verdict, and the table of figures."""
    sides = document["sides"]
    lines = [
        "# lmgauge A/B run",
        "",
        f"- base: {sides['base']['description']} {' '.join(sides['base']['arguments'])}",
        f"- new: {sides['new']['description']} {' '.join(sides['new']['arguments'])}",
        f"- pytest arguments: `{' '.join(document['pytest_arguments'])}`",
        f"- runs: {len(document['runs'])} interleaved (A B B A ...), pairs: {document['pairs']}; "
        f"status {document['status']}"
        + (f" ({document['stopped_early']})" if document.get("stopped_early") else ""),
        "",
        "```",
        verdict_line(document),
        "```",
        "",
        "Ratio: new / base; for timings exp of the Hodges-Lehmann estimate of the per-pair log "
        "ratios with its exact 95 % interval, p: one-sided Wilcoxon signed-rank test over the "
        "pairs; the ratio of medians otherwise. Only gated figures can fail; the others are "
        "shown. A gated figure missing from a run or not finite is not judged, and fails.",
        "",
    ]
    if document.get("families"):
        lines += [
            "Model families: each model's gated timings together (per pair the mean of their "
            "log ratios, worse positive; one-sided Yuen trimmed-mean t over the pairs, Holm over "
            "the families). "
            "A worse timing fails the gate only when its family is worse, or when its whole "
            f"interval is beyond {LARGE}x. A family still beyond the tolerance and not "
            "significant when no pair could be added (`unresolved`) was not judged, and fails.",
            "",
            pd.DataFrame(document["families"]).to_markdown(index=False, floatfmt=".4g"),
            "",
        ]
    if document["rows"]:
        frame = pd.DataFrame(document["rows"])
        columns = ["model", "metric", "params", "unit", "base", "new", "ratio", "ci_low",
                   "ci_high", "p_value", "verdict", "gated"]  # fmt: skip
        lines.append(frame[columns].to_markdown(index=False, floatfmt=".4g"))
    return "\n".join(lines) + "\n"
