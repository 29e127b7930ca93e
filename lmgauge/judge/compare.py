"""Compare two run reports figure by figure: a pandas table of base, new, change, significance
and verdict, plus what differs between the two machines.

When the machines differ, raw times and throughputs are "not comparable"; what still means
something is compared instead: efficiencies against each machine's own roofline and, per
latency, each model's time relative to a reference model of the same run (rows whose model
reads "gpt2-medium / gpt2"). An efficiency across machines rests on two single calibrations of
its roof, each as uncertain as that roof's ROOF_RUN_SPREAD, so it is "same" within the roof's
ROOF_CROSS_MACHINE_BAND.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from lmgauge.judge.drift import (
    Drift,
    hardware_differences,
    setup_differences,
    speed_drift,
)
from lmgauge.judge.family import FamilyVerdict, family_of
from lmgauge.judge.gate_rules import GateRules, Rule
from lmgauge.judge.keys import indexed, params_text, result_key
from lmgauge.judge.run_family import run_family_verdicts, worse_log
from lmgauge.judge.spread import (
    FINISHED,
    MIN_SPREAD_RUNS,
    Baseline,
    Spread,
    holm,
    is_busy,
    single,
)
from lmgauge.judge.verdicts import BETTER, NOISY, NOT_COMPARABLE, NOT_JUDGED, WORSE, judge
from lmgauge.record.units import MACHINE_BOUND_UNITS, UNITS

__all__ = [
    "COLUMNS", "Comparison", "compare", "indexed", "params_text", "result_key", "unit_problem",
]  # fmt: skip

CROSS_MODEL_RULE = Rule(relative=0.15, deterministic=True, reason="ratio of two models in one run")
ROOF_RUN_SPREAD = {"memory": 0.125, "compute": 0.21}
"""Standard deviation of the natural log of one run's calibrated roof between runs of the same
code on one machine: 40 quick-tier and A/B runs over six hours and five sessions on the 2-core
AMD EPYC VM, 2026-11-30 (memory roof median 30.5 GB/s, 19.0-38.7; the end-of-run calibration
differed from the start by more than 1.25x in 6 of 39 runs)."""
EFFICIENCY_ROOF = {"decode_roofline_efficiency": "memory"}
"""Which roof an efficiency's bound rests on: a decode step at batch 1 with its KV cache reads
every weight for a few FLOPs per byte (memory); prefill, encoder forwards and training steps
are matmuls over many tokens (compute). An efficiency not named here is taken as compute-bound,
the wider band."""
ROOF_CROSS_MACHINE_BAND = {
    roof: round(math.exp(1.96 * math.sqrt(2) * spread) - 1, 2)
    for roof, spread in ROOF_RUN_SPREAD.items()
}
"""Relative tolerance of a roofline efficiency compared across machines, per roof (memory
0.41, compute 0.79): the 95 % band of the ratio of two single calibrations, one per machine,
each with that roof's ROOF_RUN_SPREAD."""
COLUMNS = [
    "model", "bench", "metric", "params", "unit", "direction", "base", "new", "raw_ratio",
    "ratio", "change", "p_value", "p_adjusted", "ci_low", "ci_high", "verdict", "gated",
    "fails_gate", "tolerance", "note",
]  # fmt: skip


@dataclass
class Comparison:
    """rows: one per figure found in either report (COLUMNS); hardware / setup: 'field: base ->
    new' lines; drift: how the calibrated machine speed moved (lmgauge.judge.drift.speed_drift);
    base_name / new_name: where the reports came from; tests: one line per test that failed or
    errored in the new run but not in the base, or was skipped in it (not on a measurement) or
    not run where the base passed it (test_regressions); tests_failed_before: one line per test that
    failed or errored in both (not a regression, but a broken test: see failed_on_both_sides);
    base_runs / new_runs: how many runs each side
    stands for; family: how many gated timing figures share the family-wise false-alarm rate
    alpha (half of it when `families` were judged); families: the model families' verdicts
    (lmgauge.judge.run_family; none without a base of several runs)."""

    rows: pd.DataFrame
    hardware: list[str]
    setup: list[str]
    drift: list[str]
    base_name: str
    new_name: str
    tests: list[str] = field(default_factory=list)
    tests_failed_before: list[str] = field(default_factory=list)
    base_runs: int = 1
    family: int = 0
    families: list[FamilyVerdict] = field(default_factory=list)
    new_runs: int = 1
    unfinished: str = ""
    """Sentences, joined by "; ", when the base or new run did not finish (killed, interrupted,
    error: its figures are what it had recorded), the new report lists no tests or failed
    without a failing test, or a side took fewer than MIN_GATED_ROUNDS rounds; the gate fails
    on it."""
    base_slowed: str = ""
    """A sentence when the base was made with --inject-slowdown: its timings were slowed on
    purpose, so a slowdown of up to that size would pass; the gate fails on it."""
    base_busy: str = ""
    """A sentence when figure values of busy base runs were left out of the base."""

    def gate_failures(self) -> pd.DataFrame:
        return self.rows[self.rows["fails_gate"].astype(bool)]

    def judged(self) -> int:
        """Gated figures that were judged (compared with a verdict other than "not judged")."""
        gated = self.rows[self.rows["gated"].astype(bool)]
        unjudged = [NOT_JUDGED, NOT_COMPARABLE, "only in base", "only in new"]
        return int((~gated["verdict"].isin(unjudged)).sum())


def compare(
    base: dict | Baseline,
    new: dict | Baseline,
    rules: GateRules,
    base_name="base",
    new_name="new",
) -> Comparison:
    """Every figure of `base` and `new` (each a validated report document, or a Baseline of
    several runs of one code) judged. Gated timings are controlled by Holm over all of them
    (alpha = rules.alpha); with a base of several runs, also by model family
    (lmgauge.judge.run_family), each way with half of alpha."""
    baseline = base if isinstance(base, Baseline) else single(base)
    newside = new if isinstance(new, Baseline) else single(new)
    base, new = baseline.document, newside.document
    hardware = hardware_differences(base, new)
    setup, drift = setup_differences(base, new), speed_drift(base, new)
    several = newside.runs > 1
    unexplained = Drift() if setup or several else drift
    probes = probe_difference(base, new)
    normalize = not setup and not probes and not several
    before, after = indexed(base), indexed(new)
    cross_model: set[tuple] = set()
    if hardware:
        for document, results in ((base, before), (new, after)):
            ratios = cross_model_ratios(document)
            results.update(ratios)
            cross_model.update(ratios)
    rows = []
    for key in list(dict.fromkeys([*before, *after])):
        model, bench, metric, params = key
        old, fresh = before.get(key), after.get(key)
        shown = fresh or old
        rule = CROSS_MODEL_RULE if key in cross_model else rules.rule_for(metric, shown["unit"])
        if hardware and metric.endswith("_roofline_efficiency"):
            rule = cross_machine_efficiency_rule(rule, EFFICIENCY_ROOF.get(metric, "compute"))
        row = {
            "model": model, "bench": bench, "metric": metric, "params": params,
            "unit": shown["unit"], "direction": shown["direction"], "gated": rule.gated,
            "tolerance": rule.tolerance(), "p_adjusted": math.nan,
        }  # fmt: skip
        if old is None or fresh is None:
            row.update(one_sided_row(old, fresh, rule))
        elif several and rule.gated and (lacking := newside.runs - newside.counts.get(key, 0)):
            row.update(one_sided_row(old, fresh, rule), verdict=NOT_JUDGED, fails_gate=True,
                       note=f"missing, not a finite number, or a timing of zero or less in "
                            f"{lacking} of the "
                            f"{newside.runs} new runs")  # fmt: skip
        elif rule.gated and (absent := baseline.missing.get(key, 0)):
            row.update(one_sided_row(old, fresh, rule), verdict=NOT_JUDGED, fails_gate=True,
                       note=f"missing from {absent} of the {baseline.runs} base runs (its "
                            "median would stand on the others unseen: remove or rerun "
                            "them)")  # fmt: skip
        elif rule.gated and (broken := baseline.unusable.get(key, 0)):
            row.update(one_sided_row(old, fresh, rule), verdict=NOT_JUDGED, fails_gate=True,
                       note=f"not a finite number, or a timing of zero or less, in {broken} of "
                            f"the {baseline.runs} base runs (remove or rerun them)")  # fmt: skip
        elif rule.gated and old["unit"] in MACHINE_BOUND_UNITS and is_busy(old):
            row.update(one_sided_row(old, fresh, rule), verdict=NOT_JUDGED, fails_gate=True,
                       note=BUSY_BASE)  # fmt: skip
        elif problem := (unit_problem(old["unit"], fresh["unit"], old["direction"],
                                      fresh["direction"])
                         or catalogue_problem(metric, fresh["direction"])):  # fmt: skip
            gated = rule.gated or rules.rule_for(metric, old["unit"]).gated
            row.update(one_sided_row(old, fresh, rule), gated=gated, verdict=NOT_COMPARABLE,
                       fails_gate=gated, note=problem)  # fmt: skip
        else:
            judgement = judge(
                old, fresh, rule, rules.alpha, bool(hardware), unexplained, normalize=normalize,
                spread=spread_for(key, rule, baseline, normalize),
                base_runs=(baseline.counts or {}).get(key, baseline.runs),
                new_runs=(newside.counts or {}).get(key, newside.runs),
            )  # fmt: skip
            row.update(base=old["value"], new=fresh["value"], **asdict(judgement))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    families = []
    if baseline.runs >= MIN_SPREAD_RUNS and not hardware:
        families = run_family_verdicts(
            frame.to_dict("records"),
            baseline.run_values or {},
            newside.runs,
            rules.alpha / 2,
            rules.paired_relative,
        )
    family = control_family(frame, rules.alpha / 2 if families else rules.alpha)
    confirm_by_run_family(frame, families, rules)
    return Comparison(
        frame, hardware, setup, [*drift.lines, *probes], base_name, new_name,
        tests=test_regressions([base], [new]),
        tests_failed_before=failed_on_both_sides([base], [new]),
        base_runs=baseline.runs, family=family,
        unfinished="; ".join(filter(None, [
            unfinished(base, "base"), unfinished(new), untested(new), unexplained_failure(new),
            too_few_rounds(base, "base"), too_few_rounds(new),
            passed_unlisted([base], [new])])),  # fmt: skip
        base_slowed=slowed_on_purpose(base),
        families=families, new_runs=newside.runs, base_busy=baseline.busy_sentence(),
    )  # fmt: skip


def confirm_by_run_family(frame: pd.DataFrame, families: list, rules: GateRules) -> None:
    """Every gated timing of a worse model family whose change as the family counted it
    (run_family.worse_log) is beyond its own rule's tolerance the worse way is worse and fails
    the gate, whatever its own test said. The worse family fails the gate by itself in any
    case (GateResult.passed), also when none of its members is beyond its own tolerance."""
    worse = {verdict.family: verdict for verdict in families if verdict.worse}
    if not worse:
        return
    for index, row in frame.iterrows():
        verdict = worse.get(family_of(row.to_dict()))
        if verdict is None or not row["gated"] or row["unit"] not in MACHINE_BOUND_UNITS:
            continue
        change, base = worse_log(row.to_dict()), row["base"]
        if not (math.isfinite(change) and change > 0 and math.isfinite(base)):
            continue
        sign = 1.0 if row["direction"] == "lower" else -1.0
        rule = rules.rule_for(row["metric"], row["unit"])
        if rule.beyond(base, base * math.exp(sign * change)) and row["verdict"] != WORSE:
            frame.at[index, "verdict"] = WORSE
            frame.at[index, "fails_gate"] = True
            note = (f"worse with its model family ({verdict.ratio:.3f}x together, Holm-adjusted "
                    f"p = {verdict.adjusted_p:.3g}; {math.exp(change):.3f}x here)")  # fmt: skip
            alone = frame.at[index, "note"]
            frame.at[index, "note"] = f"on its own {row['verdict']} ({alone}); {note}" if alone \
                else note


def cross_machine_efficiency_rule(rule: Rule, roof: str) -> Rule:
    """`rule` with its tolerance widened to the `roof`'s ROOF_CROSS_MACHINE_BAND: an efficiency
    against each machine's own roof, compared across machines, moves that much with the roofs'
    readings alone."""
    relative = max(rule.relative or 0.0, ROOF_CROSS_MACHINE_BAND[roof])
    reason = (
        f"across machines the two {roof} roofs' own run-to-run spread (sd "
        f"{ROOF_RUN_SPREAD[roof]} in log) makes efficiencies within ±{100 * relative:.0f} % "
        "indistinguishable"
    )
    return replace(rule, relative=relative, reason=reason)


def probe_difference(base: dict, new: dict) -> list[str]:
    """A line when the two runs' speed probes ran different things (another kind, numpy or
    thread count), or one run has none: their times cannot be divided, so timings are not
    normalised. [] when they match, or when neither run timed anything in process."""
    before, after = (document["run"].get("speed_probe") for document in (base, new))
    if before is not None and after is not None and comparable_probes(before, after):
        return []
    if before is None and after is None and not (timed_in_process(base) or timed_in_process(new)):
        return []
    described = [describe_probe(document) for document in (base, new)]
    if before is None and after is None and described[0] == described[1]:
        return [f"neither run has a speed probe ({described[0]}): timings are not normalised"]
    return [f"speed probes differ ({described[0]} -> {described[1]}): timings are "
            "not normalised by them"]  # fmt: skip


def timed_in_process(document: dict) -> bool:
    """Whether the run holds a timing of an in-process bench (served figures are timed by the
    load generator, against a server)."""
    return any(result["unit"] in MACHINE_BOUND_UNITS and not result["metric"].startswith("served_")
               for result in document.get("results", []))  # fmt: skip


def describe_probe(document: dict) -> str:
    """The run's speed probe in a few words, or why it has none."""
    probe = document["run"].get("speed_probe")
    if probe:
        blas = f", {probe['blas']}" if probe.get("blas") else ""
        return (f"{probe.get('kind')}, numpy {probe.get('numpy')}{blas}, {probe.get('threads')} "
                "threads")  # fmt: skip
    if not timed_in_process(document):
        return "no probe: nothing was timed in process"
    return ("no probe recorded: its timed benches took none (warm loads, say), or the report "
            "is from before format 4, whose probe ran torch in process")


def comparable_probes(before: dict, after: dict) -> bool:
    return all(before.get(key) == after.get(key) for key in ("kind", "numpy", "blas", "threads"))


BUSY_BASE = (
    "the base measured it only while the machine was busy (in every base run): a slowed base "
    "value hides a slowdown of its size, so it cannot be judged; make the base again on a quiet "
    "machine"
)


def one_sided_row(old: dict | None, fresh: dict | None, rule: Rule) -> dict:
    """A figure on one side only: it could not be judged, and fails when its rule is gated."""
    if fresh is None:
        verdict, note = "only in base", "missing from the new run: it vanished"
    else:
        verdict = "only in new"
        note = "not in the base run, so nothing to judge it against: refresh the baseline"
    return {
        "base": old["value"] if old else math.nan, "new": fresh["value"] if fresh else math.nan,
        "raw_ratio": math.nan, "ratio": math.nan, "change": "", "p_value": math.nan,
        "ci_low": math.nan, "ci_high": math.nan, "verdict": verdict,
        "fails_gate": rule.gated, "note": note if rule.gated else "",
    }  # fmt: skip


def unit_problem(before: str, after: str, before_direction: str = "",
                 after_direction: str = "") -> str:  # fmt: skip
    """A sentence when a figure's values cannot be compared for their units: the unit changed
    between the reports, or it is not in lmgauge's table of units (lmgauge.record.units), or
    (when given) its direction changed, so that worse means the opposite on each side; "" when
    they can."""
    if before != after:
        return f"its unit changed from '{before}' to '{after}': the values cannot be compared"
    if after not in UNITS:
        return (f"its unit '{after}' is not in lmgauge's table of units, so no rule knows how "
                "to judge it")  # fmt: skip
    if before_direction != after_direction:
        return (f"its direction changed from '{before_direction}' to '{after_direction}': "
                "which way is worse differs between the sides")  # fmt: skip
    return ""


def catalogue_problem(metric: str, direction: str) -> str:
    """A sentence when both reports give a catalogued metric another direction than lmgauge's
    catalogue (which way is worse is lmgauge's to say, not a report's: an edited direction
    would turn a slowdown into an improvement); "" otherwise."""
    from lmgauge.record.metrics import METRICS

    known = METRICS.get(metric)
    if known is None or known.direction == direction:
        return ""
    return (f"its reports call it '{direction}' is better, and lmgauge's catalogue "
            f"'{known.direction}': which way is worse is unknown")


def spread_for(key: tuple, rule: Rule, baseline: Baseline, normalize: bool) -> Spread | None:
    """The run-to-run spread a timing figure is judged by: estimated from the baseline's runs
    (of raw values unless `normalize`d ratios are judged), else the rule's stated run_spread,
    else None (not judged)."""
    found = (baseline.spreads or {}).get(key)
    if found is not None:
        return found if normalize else found.unnormalised()
    if rule.run_spread is not None:
        return Spread(rule.run_spread, 0, "gate rules default")
    return None


def control_family(frame: pd.DataFrame, alpha: float) -> int:
    """Holm's method over the gated figures that were tested against their run-to-run spread
    (timings and memory peaks): a worse or better verdict stands only when its adjusted p is at
    most alpha, so that a run of the same code fails on them with probability at most alpha
    however many figures are gated. Returns the family size."""
    timing = frame["gated"].astype(bool) & frame["p_value"].notna()
    if not timing.any():
        return 0
    adjusted = holm(frame.loc[timing, "p_value"].tolist())
    frame.loc[timing, "p_adjusted"] = adjusted
    for index, p_adjusted in zip(frame.index[timing], adjusted, strict=True):
        if frame.at[index, "verdict"] in (WORSE, BETTER) and p_adjusted > alpha:
            frame.at[index, "verdict"] = NOISY
            frame.at[index, "fails_gate"] = False
            note = f"Holm-adjusted p = {p_adjusted:.3g} > {alpha} over {int(timing.sum())} figures"
            frame.at[index, "note"] = "; ".join(filter(None, [frame.at[index, "note"], note]))
    return int(timing.sum())


def unfinished(document: dict, side: str = "new") -> str:
    """A sentence when the `side` run's status says it did not finish; "" otherwise."""
    status = document.get("run", {}).get("status")
    if status in FINISHED or status is None:
        return ""
    if document["run"].get("exit_status") == NO_TESTS_RAN:
        return (f"the {side} run ran no test (pytest exit status 5: -k, --deselect or --lf "
                "selected none), so it recorded nothing to judge")  # fmt: skip
    return (f"the {side} run did not finish (status {status}): what it recorded is not the "
            "whole run")  # fmt: skip


NO_TESTS_RAN = 5
"""pytest's exit status when no test was collected or all were deselected."""


def untested(new: dict) -> str:
    """A sentence when the new report has no `tests` section (every report lmgauge writes has
    one): a test that failed or was skipped there could not be seen; "" otherwise."""
    if isinstance(new.get("tests"), dict):
        return ""
    return "the new report lists no tests, so a test that failed or was skipped could not be seen"


def slowed_on_purpose(base: dict) -> str:
    """A sentence when the base run's models were slowed on purpose (--inject-slowdown, made
    for measuring the gate itself); "" otherwise."""
    options = base.get("run", {}).get("options", {})
    if not options.get("inject_slowdown"):
        return ""
    which = options.get("inject_slowdown_models") or "every model"
    return (f"the base was made with --inject-slowdown {options['inject_slowdown']:g} "
            f"({which}): its timings were slowed on purpose, so a slowdown of up to that size "
            "would pass; gate against runs made without it")  # fmt: skip


def test_regressions(base_runs: list[dict], new_runs: list[dict]) -> list[str]:
    """One line per test that did not pass in some new run and did in the base: '<test id>:
    <outcome> in <when> (<message>)' for a test that failed or errored there and in no base run,
    '<test id>: skipped in new, passed in base (<reason>)' for a test skipped or xfailed there
    that some base run passed, unless it skipped on what it measured (`measured`:
    lmgauge.pytest_plugin.skips), and '<test id>: not run in new, passed in base (...)' for a
    test some base run passed that no new run ran (deselected, its model left out, or its file
    did not collect; NOT_RUN_LINES lines at most, the last counting the rest), unless a new
    run did not finish (which fails by itself). Reports list the tests they passed since
    2026-12-03; against an older base, a skip or a test not run is not seen; a new run that
    does not list them against a base that does is not judged (passed_unlisted)."""
    failed_before = first_failures(base_runs)
    passed_before = passed_tests(base_runs)
    lines = []
    for document in new_runs:
        for item in document.get("tests", {}).get("not_passed", []):
            reason = failure_reason(item)
            if failing(item) and item["test"] not in failed_before:
                lines.append(f"{item['test']}: {item['outcome']} in {item['when']}{reason}")
            elif (item["outcome"] == "skipped" and not item.get("measured")
                  and item["test"] in passed_before):  # fmt: skip
                lines.append(f"{item['test']}: skipped in new, passed in base{reason}")
    if any(map(unfinished, new_runs)):
        return list(dict.fromkeys(lines))
    if all("passed" in document.get("tests", {}) for document in new_runs):
        ran = passed_tests(new_runs) | {item["test"] for document in new_runs
                                        for item in document["tests"].get("not_passed", [])}
        lines += not_run_lines(sorted(passed_before - ran))
    return list(dict.fromkeys(lines))


def passed_unlisted(base_runs: list[dict], new_runs: list[dict]) -> str:
    """A sentence when a new run does not list the tests it passed and the base runs do: whether
    it ran every test the base passed cannot be judged, so the comparison is not whole (it
    fails, as an unfinished run does); "" otherwise."""
    passed_before = passed_tests(base_runs)
    unlisted = [document for document in new_runs
                if isinstance(document.get("tests"), dict) and "passed" not in document["tests"]]
    if not passed_before or not unlisted:  # a run without a tests section: `untested` says so
        return ""
    return ("a new run does not list the tests it passed (an older lmgauge, or an edited "
            f"report), so whether it ran the {len(passed_before)} tests the base passed cannot "
            "be judged")


NOT_RUN_LINES = 5
"""The most lines that tests not run in new get: a run of fewer models than its base leaves
out every test of the others, which the figures' lines already count by subject."""


def not_run_lines(tests: list[str]) -> list[str]:
    """A line per test the base passed and the new runs did not run, the last of NOT_RUN_LINES
    counting those left out."""
    why = ("not run in new, passed in base (deselected, its model left out, or its file did not "
           "collect)")
    lines = [f"{test}: {why}" for test in tests[:NOT_RUN_LINES]]
    if len(tests) > NOT_RUN_LINES:
        lines[-1] += f", and {len(tests) - NOT_RUN_LINES} more tests like it"
    return lines


def passed_tests(documents: list[dict]) -> set[str]:
    """The tests some of `documents` passed (their reports' `tests.passed`)."""
    return {test for document in documents
            for test in document.get("tests", {}).get("passed", [])}  # fmt: skip


def failed_on_both_sides(base_runs: list[dict], new_runs: list[dict]) -> list[str]:
    """Tests that failed or errored in some new run and in some base run too, one line each:
    not a regression, but what they measure was not judged in the new runs (a failure in setup
    or call), or the test is broken on both sides (in teardown, after its figures)."""
    in_base = first_failures(base_runs)
    lines = []
    for test, item in first_failures(new_runs).items():
        before = in_base.get(test)
        if before is None:
            continue
        where = f"{item['outcome']} in {item['when']}"
        if (before["outcome"], before["when"]) == (item["outcome"], item["when"]):
            where += " on both sides"
        else:
            where += f" (in the base: {before['outcome']} in {before['when']})"
        consequence = ("its figures were recorded, but it is broken on both sides"
                       if item["when"] == "teardown" else "what it measures was not judged")
        lines.append(f"{test}: {where}{failure_reason(item)}; {consequence}")
    return lines


def failing(item: dict) -> bool:
    """Whether a test outcome of a report counts as a failure: failed, errored, or any outcome
    other than pytest's "skipped" (a report written by hand or another tool: what it means is
    unknown, so it is not taken as a pass)."""
    return item.get("outcome") != "skipped"


MIN_GATED_ROUNDS = 3
"""Fewest rounds a gated run may have taken (--rounds): a run value from fewer is not the
figure the run-to-run spreads were measured on (the median of at least 3 rounds)."""


def too_few_rounds(document: dict, side: str = "new") -> str:
    """A sentence when the `side` run was made with --rounds below MIN_GATED_ROUNDS, or its
    report does not say how many (lmgauge has written it since 2026-11-24); "" otherwise."""
    rounds = document.get("run", {}).get("options", {}).get("rounds")
    if rounds is None:
        return (f"the {side} run's report does not say how many --rounds it was made with, so "
                f"whether its run values stand on the {MIN_GATED_ROUNDS} rounds the spreads were "
                "measured on cannot be judged")  # fmt: skip
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds >= MIN_GATED_ROUNDS:
        return ""
    return (f"the {side} run was made with --rounds {rounds}: a run value from fewer than "
            f"{MIN_GATED_ROUNDS} rounds is not the figure the spreads were measured on")


def unexplained_failure(document: dict, side: str = "the new run") -> str:
    """A sentence when the run's status is failed (pytest's exit status 1) but it lists no
    failing test: what failed (a bench file that did not collect, a plugin's hook) was not
    seen, so not judged; "" otherwise. `side`: how the sentence names the run."""
    if document.get("run", {}).get("status") != "failed":
        return ""
    if any(map(failing, document.get("tests", {}).get("not_passed", []))):
        return ""
    return (f"{side} failed (pytest exit status 1) but lists no failing test: what failed "
            "(a bench file that did not collect, say) was not judged")


def first_failures(documents: list[dict]) -> dict[str, dict]:
    """Each test that failed or errored in some run of `documents`, with its first such outcome
    in report order (a setup or call failure comes before a teardown error after it)."""
    first: dict[str, dict] = {}
    for document in documents:
        for item in document.get("tests", {}).get("not_passed", []):
            if failing(item):
                first.setdefault(item["test"], item)
    return first


def failure_reason(item: dict) -> str:
    """' (<first line of its message>)' for a test outcome of a report, or '' without one."""
    message = (item.get("message") or "").strip().splitlines()
    return f" ({message[0][:160]})" if message else ""


def cross_model_ratios(document: dict) -> dict[tuple, dict]:
    """Per latency figure with samples: each model's value / the first model's (by name) value
    for the same bench, metric and params in this run."""
    groups: dict[tuple, list[dict]] = {}
    for result in document["results"]:
        if result["unit"] == "s" and result["samples"] and result["model"]:
            key = (result["bench"], result["metric"], params_text(result["params"]))
            groups.setdefault(key, []).append(result)
    ratios = {}
    for (bench, metric, params), results in groups.items():
        reference = min(results, key=lambda r: r["model"])
        for result in results:
            if result is reference or not reference["value"]:
                continue
            model = f"{result['model']} / {reference['model']}"
            ratios[(model, bench, metric, params)] = {
                "model": model, "bench": bench, "metric": metric, "params": {},
                "unit": "ratio", "direction": "lower", "samples": [], "flags": result["flags"],
                "value": result["value"] / reference["value"],
            }  # fmt: skip
    return ratios
