"""How often does the stored-baseline gate err on this runner? Measured on real runs.

Given N run reports of the same code (made back to back on one runner) and some run reports of
the same code with a known slowdown injected (`--inject-slowdown F --inject-slowdown-models
M`), every ordered pair of same-code runs is gated (N (N - 1) false-alarm trials) and every
slowed run is gated against every same-code run (detection trials). Each trial's run-to-run
spreads are estimated from the *other* same-code runs only (leave the pair out), so no trial
judges a run with a spread its own value helped estimate. That is a gate against one stored
run. `folder_rates` measures the gate against a folder of stored runs, with a new side of one
or several runs (model families judged too): every choice of new runs against the rest.

Scaled trials (`scale`: a model and factors) gate a copy of each same-code trial's new side
with that model's timings made `factor` times worse (times multiplied, rates divided): the
runner's real run-to-run noise around a known shift, with no slowed run to make.

The heavy tail of run-to-run noise is measured too: the share of same-code run pairs (runs 1-2,
3-4, ...) in which a gated timing is 1.3x or more apart, the figure the A/B simulation's tail
is estimated from (lmgauge.judge.gate_sim.tail_from_pairs).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

from lmgauge.judge.gate import context_lines, run_gate
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.keys import indexed
from lmgauge.judge.run_folder import code_and_machine_differences
from lmgauge.judge.spread import MIN_SPREAD_RUNS, Baseline, combined, is_finite
from lmgauge.judge.verdicts import WORSE
from lmgauge.record.units import MACHINE_BOUND_UNITS


@dataclass
class StoredRates:
    """false_alarms / same_trials: same-code ordered pairs that failed; detections /
    slowed_trials: slowed runs that failed on a figure of a slowed model; slowed_elsewhere:
    slowed trials that (also) failed on a model that was not slowed; broken_trials: same-code
    trials that failed only because a test failed on both sides (a broken bench, which the gate
    rightly fails, is not timing noise: not counted as a false alarm); failing_figures: how
    often each figure failed a same-code trial; tail_logs: per same-code run pair and gated
    timing, the absolute log ratio; family: gated timings per run."""

    same_trials: int = 0
    false_alarms: int = 0
    slowed_trials: int = 0
    detections: int = 0
    slowed_elsewhere: int = 0
    broken_trials: int = 0
    broken_tests: Counter = field(default_factory=Counter)
    busy_base_trials: int = 0
    """Same-code trials that failed only on timings their base measured only while busy (the
    gate rightly cannot judge them; a base to make again, not timing noise)."""
    failing_figures: Counter = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)
    tail_logs: list[float] = field(default_factory=list)
    family: int = 0
    slowdown: str = "none"
    """What the slowed runs injected, in words ("+30 % in smollm2-135m")."""
    scaled: dict = field(default_factory=dict)
    """Scaled trials: factor -> (trials that found the scaled model worse, trials). A same-code
    trial that already found that model worse counts at every factor (its false alarm is
    counted too)."""
    scaled_model: str = ""


@dataclass(frozen=True)
class Scale:
    """Scaled trials: `model`'s timings made each of `factors` times worse in a copy of the new
    side of every same-code trial."""

    model: str
    factors: tuple[float, ...]


def scaled_copy(document: dict, model: str, factor: float) -> dict:
    """`document` with every timing of `model` (a machine-bound unit) made `factor` times worse:
    values, rounds and samples of times multiplied, of rates divided; speed probes kept. Load
    and tokenizer times are scaled too, which --inject-slowdown (forward passes only) leaves
    alone, so scaled and slowed detections are not the same measurement."""
    copy = {**document, "results": []}
    for result in document["results"]:
        if result.get("model") == model and result["unit"] in MACHINE_BOUND_UNITS:
            by = factor if result["direction"] == "lower" else 1 / factor
            result = {**result, "value": result["value"] * by, **{
                name: [value * by for value in result.get(name) or []]
                for name in ("rounds", "samples")}}  # fmt: skip
        copy["results"].append(result)
    return copy


def count_scaled_trials(rates: StoredRates, scale: Scale | None, new_side: list[dict],
                        gate) -> None:  # fmt: skip
    """Gates a copy of a same-code trial's new side (its runs) for each factor of `scale`
    (`gate` takes the runs and returns the gate result) and counts the copies in which the
    scaled model was found worse (a figure, or its model family)."""
    if scale is None:
        return
    rates.scaled_model = scale.model
    for factor in scale.factors:
        result = gate([scaled_copy(document, scale.model, factor) for document in new_side])
        found = worse_models(result) | family_models(result.worse_families, {scale.model})
        caught, trials = rates.scaled.get(factor, (0, 0))
        rates.scaled[factor] = (caught + (scale.model in found), trials + 1)


def slowed_models(document: dict) -> set[str]:
    """The models a run slowed on purpose (its options' inject_slowdown_models; every model
    when it slowed all)."""
    options = document["run"]["options"]
    if not options.get("inject_slowdown"):
        return set()
    named = options.get("inject_slowdown_models")
    return set(named.split(",")) if named else set(options.get("models", []))


def leave_out(same: list[dict], *excluded: int) -> dict:
    """Run-to-run spreads estimated from the same-code runs other than `excluded`."""
    others = [document for index, document in enumerate(same) if index not in excluded]
    return combined(others, leave_out_busy=True).spreads if len(others) > 1 else {}


def stored_rates(
    same: list[dict], slowed: list[dict], rules: GateRules, spreads_from_runs: bool = True,
    scale: Scale | None = None,
) -> StoredRates:
    """The rates (see the module docstring); with spreads_from_runs false, every trial uses the
    rules' stated run_spread instead, as a gate against a single stored run does."""
    if not spreads_from_runs and len(same) < 2:
        raise ValueError(f"{len(same)} same-code run{'s are' if len(same) != 1 else ' is'} too "
                         "few: give at least 2, so that there is a pair to gate.")  # fmt: skip
    if spreads_from_runs and len(same) < MIN_SPREAD_RUNS + 2:
        raise ValueError(
            f"{len(same)} same-code run{'s are' if len(same) != 1 else ' is'} too few: give at "
            f"least {MIN_SPREAD_RUNS + 2}, so that the spreads of every pair's trial come from "
            f"{MIN_SPREAD_RUNS} other runs "
            "(or judge with --rules-spreads, from 2 runs)."
        )
    check_slowed_runs_match(same, slowed)
    rates = StoredRates()
    for i, base in enumerate(same):
        for j, new in enumerate(same):
            if i == j:
                continue
            spreads = leave_out(same, i, j) if spreads_from_runs else {}
            stored = Baseline(base, 1, spreads)
            result = run_gate(stored, new, rules)
            count_same_code_trial(rates, result, f"run {i + 1} -> run {j + 1}")
            count_scaled_trials(rates, scale, [new],
                                lambda runs, stored=stored: run_gate(stored, runs[0], rules))
        for new in slowed:
            spreads = leave_out(same, i) if spreads_from_runs else {}
            result = run_gate(Baseline(base, 1, spreads), new, rules)
            rates.slowed_trials += 1
            rates.detections += bool(worse_models(result) & slowed_models(new))
            rates.slowed_elsewhere += bool(set(result.failures["model"]) - slowed_models(new))
    rates.tail_logs = pair_log_ratios(same, rules)
    rates.slowdown = ", ".join(sorted({injected(document) for document in slowed})) or "none"
    return rates


def folder_rates(
    same: list[dict], slowed: list[dict], rules: GateRules, new_runs: int,
    scale: Scale | None = None,
) -> StoredRates:
    """The rates of a gate whose base is a folder of same-code runs and whose new side is the
    median of `new_runs` runs (`lmgauge gate BASE_FOLDER NEW_FOLDER`): every choice of
    `new_runs` same-code runs is gated against the other same-code runs (false-alarm trials),
    and every choice of `new_runs` slowed runs against all same-code runs (detection trials).
    Model families are judged, since the base has several runs."""
    if len(same) < new_runs + MIN_SPREAD_RUNS:
        raise ValueError(
            f"{len(same)} same-code runs are too few for a new side of {new_runs}: give at least "
            f"{new_runs + MIN_SPREAD_RUNS}, so that every trial's base has {MIN_SPREAD_RUNS} runs."
        )
    check_slowed_runs_match(same, slowed)
    rates = StoredRates()
    for chosen in combinations(range(len(same)), new_runs):
        base = combined([document for i, document in enumerate(same) if i not in chosen],
                        leave_out_busy=True)
        result = run_gate(base, combined([same[i] for i in chosen]), rules)
        runs = ", ".join(str(i + 1) for i in chosen)
        count_same_code_trial(rates, result, f"runs {runs} against the others")
        count_scaled_trials(rates, scale, [same[i] for i in chosen],
                            lambda copies, base=base: run_gate(base, combined(copies), rules))
    base = combined(same, leave_out_busy=True)
    for chosen in combinations(range(len(slowed)), new_runs):
        new = [slowed[i] for i in chosen]
        result = run_gate(base, combined(new), rules)
        rates.slowed_trials += 1
        families = family_models(
            result.worse_families, {r["model"] for r in base.document["results"] if r.get("model")}
        )
        rates.detections += bool((worse_models(result) | families) & slowed_models(new[0]))
        rates.slowed_elsewhere += bool((set(result.failures["model"]) | families)
                                       - slowed_models(new[0]))  # fmt: skip
    rates.tail_logs = pair_log_ratios(same, rules)
    rates.slowdown = ", ".join(sorted({injected(document) for document in slowed})) or "none"
    return rates


def worse_models(result) -> set[str]:
    """The models with a figure the gate found worse: a detection is a slowdown seen, not a
    figure the gate could not judge (missing, not comparable), which fails the gate too."""
    failures = result.failures
    return set(failures[failures["verdict"] == WORSE]["model"])


def check_slowed_runs_match(same: list[dict], slowed: list[dict]) -> None:
    """ValueError in one sentence when the slowed runs were made on another machine, setup or
    commit than the same-code runs: the detections would then measure that difference."""
    if not same or not slowed:
        return
    if differences := code_and_machine_differences(same[0], slowed[0]):
        raise ValueError(
            f"the slowed runs differ from the same-code runs beyond the injected slowdown "
            f"({'; '.join(differences[:3])}): make both on one machine, with one setup and one "
            "commit."
        )


def count_same_code_trial(rates: StoredRates, result, trial: str) -> None:
    """Adds one same-code trial's gate result to `rates`: a false alarm, or a broken trial
    when it failed only on tests that failed on both sides."""
    rates.same_trials += 1
    rates.family = max(rates.family, result.comparison.family)
    if result.passed:
        return
    if result.failed_only_on_a_busy_base:
        rates.busy_base_trials += 1
        return
    if result.failed_only_on_broken_tests:
        rates.broken_trials += 1
        rates.broken_tests.update(line.split(": ", 1)[0] for line in
                                  result.comparison.tests_failed_before)  # fmt: skip
        return
    rates.false_alarms += 1
    failing = result.failures
    rates.failing_figures.update(f"{m} {x}" for m, x in zip(
        failing["model"], failing["metric"], strict=True))  # fmt: skip
    rates.reasons.append(f"{trial}: " + first_reason(result))


def family_models(families, models: set[str]) -> set[str]:
    """The models among `models` that a family of `families` belongs to: a family is named by
    its model, then its setup (lmgauge.judge.family.family_of), and a model's name may hold
    spaces (the longest model name that names the family is its model)."""
    found = set()
    for verdict in families:
        named = [m for m in models if verdict.family == m or verdict.family.startswith(f"{m} ")]
        if named:
            found.add(max(named, key=len))
    return found


def injected(document: dict) -> str:
    options = document["run"]["options"]
    where = ", ".join(sorted(slowed_models(document))) or "no model"
    return f"+{100 * float(options.get('inject_slowdown', 0)):g} % in {where}"


def first_reason(result) -> str:
    """The first line of the gate's message that says why it failed, past a test that failed
    on both sides (a broken bench, counted apart) and past what differs between the runs
    (machine, setup, speed: context, not a cause) when something else failed too."""
    lines = [line.strip() for line in result.message().splitlines()[1:]]
    broken = {f"test {line}" for line in result.comparison.tests_failed_before}
    context = {line.strip() for line in context_lines(result.comparison)}
    telling = [line for line in lines if line not in broken | context] or lines
    return telling[0] if telling else result.message().splitlines()[0]


def pair_log_ratios(same: list[dict], rules: GateRules) -> list[float]:
    """|log(second / first)| of every gated timing in same-code run pairs 1-2, 3-4, ..."""
    logs = []
    for first, second in zip(same[0::2], same[1::2], strict=False):
        before, after = indexed(first), indexed(second)
        for key, result in before.items():
            other = after.get(key)
            gated = rules.rule_for(result["metric"], result["unit"]).gated
            if other is None or result["unit"] not in MACHINE_BOUND_UNITS or not gated:
                continue
            values = (result["value"], other["value"])
            if all(is_finite(v) and v > 0 for v in values):
                logs.append(abs(math.log(values[1] / values[0])))
    return logs


def rates_markdown(rates: StoredRates, runs: int, alpha: float, source: str = "",
                   slowed_runs: int | None = None) -> str:  # fmt: skip
    tail = sum(value >= math.log(1.3) for value in rates.tail_logs)
    slowed = slowed_runs if slowed_runs is not None else (
        rates.slowed_trials // runs if runs else 0)  # fmt: skip
    lines = [
        f"# Stored-baseline gate on this runner: {runs} same-code runs, {slowed} slowed",
        "",
        f"Run-to-run spreads: {source or 'from the other same-code runs (the pair left out)'}.",
        "Trials reuse the same runs (each run is in many pairs): they are not independent, and "
        "a rate is only as good as the runs are typical of this runner.",
        "",
        f"- false alarms: {rates.false_alarms} of {rates.same_trials} same-code trials "
        f"(the gate expects at most {100 * alpha:g} % per run from its {rates.family} figures "
        "judged by their run-to-run spread)",
        f"- detections: {rates.detections} of {rates.slowed_trials} trials ({slowed} slowed runs; "
        f"slowed: {rates.slowdown}) failed on a slowed model; "
        f"{rates.slowed_elsewhere} trials failed on a model that was not slowed",
        f"- heavy tail: {tail} of {len(rates.tail_logs)} same-code figure pairs (gated timings, "
        "runs 1-2, 3-4, ...) were 1.3x or more apart",
    ]
    if rates.scaled:
        lines.append(f"- scaled trials (the new side's {rates.scaled_model} timings made worse in "
                     "a copy of each same-code trial): caught " + ", ".join(
                         f"{factor:g}x in {caught} of {trials}"
                         for factor, (caught, trials) in sorted(rates.scaled.items())))  # fmt: skip
    if rates.busy_base_trials:
        lines += [
            "",
            f"{rates.busy_base_trials} same-code trials failed only on timings that their base "
            "run measured only while the machine was busy (not judged, so the gate fails; not "
            "counted as false alarms: such a base is to be made again on a quiet machine).",
        ]
    if rates.broken_trials:
        lines += [
            "",
            f"{rates.broken_trials} same-code trials failed only on tests that failed on both "
            "sides (a broken bench, which the gate fails; not counted as false alarms: fix the "
            "test and measure again):",
        ]
        lines += [f"- {test}: {count}" for test, count in rates.broken_tests.most_common(10)]
    if rates.failing_figures:
        lines += ["", "Figures that failed same-code pairs (times):"]
        lines += [f"- {name}: {count}" for name, count in rates.failing_figures.most_common(10)]
    if rates.reasons:
        lines += ["", "First reason of each failing pair:"]
        lines += [f"- {reason}" for reason in rates.reasons[:20]]
    return "\n".join(lines) + "\n"
