"""How often does the gate err on this runner? Trials of same-code and slowed A/B runs.

Each trial runs three sides interleaved on this machine: the base, the same code again, and the
same code with every forward pass slowed by a known fraction (--inject-slowdown, a validation
aid). The same-code pair measures false alarms, the slowed pair detections, both in A/B mode
(lmgauge.judge.paired) and in stored-baseline mode (lmgauge.judge.gate on one report against
another). A/B mode follows `lmgauge ab`'s rule: `runs` pairs first, then one more at a time
while either comparison is undecided, up to `max_runs`; each comparison is judged on the pairs
`lmgauge ab` would have stopped at for it.
Everything is written to gate-check.json after every trial, with the per-run values that the
drift model of the simulation (lmgauge.judge.gate_sim) is estimated from.
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from lmgauge.errors import LmgaugeError
from lmgauge.judge.gate import run_gate
from lmgauge.judge.gate_rules import GateRules
from lmgauge.judge.gate_sim import (
    NoiseModel,
    ab_fails,
    estimate,
    failure_rate,
    stored_fails,
    suggested_tolerance,
    tail_from_pairs,
)
from lmgauge.judge.keys import params_text
from lmgauge.judge.spread import is_finite
from lmgauge.judge.verdicts import round_values
from lmgauge.record.report import read_report, strict_json, write_text_atomic
from lmgauge.runs.ab import MAX_RUNS, RUN_DEFAULTS, repeat_arguments, undecided_pairs
from lmgauge.runs.ab_report import fail_worse_alone, judged_rows
from lmgauge.runs.ab_run import describe_failure, run_one
from lmgauge.runs.ab_sides import Side

ROTATIONS = [("base", "same", "slow"), ("slow", "same", "base"), ("same", "slow", "base"),
             ("base", "slow", "same")]  # fmt: skip
"""Order of the three sides within each pair, rotated so that no side always runs first."""


REPEATED_RUNS = "timed tests only, without the calibration where no rule gates a roof"
"""What a side's runs after its first ran (gate-check.json's `repeated_runs`; a record without
it, from before 2026-12-02, ran every selected test, calibrated, in every run)."""


def trial_sides(slowdown: float, repository: Path) -> dict[str, Side]:
    python = sys.executable
    return {
        "base": Side("base", "this checkout", python, repository),
        "same": Side("same", "this checkout again", python, repository),
        "slow": Side(
            "slow",
            f"slowed by {slowdown:g}",
            python,
            repository,
            ("--inject-slowdown", str(slowdown)),
        ),  # fmt: skip
    }


def run_trial(sides, pytest_arguments, runs, max_runs, rules, out: Path) -> dict[str, list]:
    """Per side, the report documents of its runs in pair order: `runs` pairs, then more while
    the same-code or the slowed comparison is undecided (lmgauge.runs.ab.undecided_pairs), up
    to `max_runs`. As in `lmgauge ab`, a side's later runs repeat only its timed tests, without
    the calibration where no rule gates a roof (lmgauge.runs.ab.repeat_arguments): the
    stored-baseline verdicts of later pairs then have no calibrated drift to excuse."""
    documents: dict[str, list[dict]] = defaultdict(list)
    repeat: dict[str, list[str]] = {}
    number = 0
    for pair in range(max_runs):
        if pair >= runs and not any(undecided_pairs(documents["base"], documents[other], rules)
                                    for other in ("same", "slow")):  # fmt: skip
            break
        for label in ROTATIONS[pair % len(ROTATIONS)]:
            number += 1
            arguments = [*RUN_DEFAULTS, *pytest_arguments, *repeat.get(label, [])]
            record = run_one(sides[label], pair, number, arguments, out,
                             timed_only=label in repeat)  # fmt: skip
            if not record.usable:
                raise LmgaugeError(describe_failure(record))
            documents[label].append(read_report(record.report))
            if label not in repeat:
                repeat[label] = repeat_arguments(documents[label][0], rules)
    return documents


def stopping_pairs(base: list[dict], new: list[dict], runs: int, rules: GateRules) -> int:
    """The pairs `lmgauge ab` would have judged this comparison on: the first count from `runs`
    on at which it is decided, else every pair there is."""
    for count in range(runs, len(base)):
        if not undecided_pairs(base[:count], new[:count], rules):
            return count
    return len(base)


def judge_trial(documents: dict[str, list[dict]], runs: int, rules: GateRules) -> dict:
    """A/B and stored-baseline verdicts of one trial, per kind (same-code, slowed); A/B on the
    pairs `lmgauge ab` would have stopped at, stored-baseline on every pair."""
    judged = {}
    for kind, other in (("same", "same"), ("slowed", "slow")):
        pairs = stopping_pairs(documents["base"], documents[other], runs, rules)
        rows, families = judged_rows(documents["base"][:pairs], documents[other][:pairs], rules)
        stored = []
        for base, new in zip(documents["base"], documents[other], strict=False):
            failures = run_gate(base, new, rules).failures
            stored.append(
                sorted(
                    f"{m} {x}" for m, x in zip(failures["model"], failures["metric"], strict=False)
                )
            )
        judged[kind] = {
            "ab_failures": ab_failures(rows, families),
            "ab_ratios": {f"{r['model']} {r['metric']}": r["ratio"] for r in rows if r["gated"]},
            "ab_pairs": pairs,
            "stored_failures": stored,
        }
    return judged


def ab_failures(rows: list[dict], families: list) -> list[str]:
    """What failed an A/B comparison judged to its last pair: gated figures (those worse on
    their own in an unresolved family among them), worse families, and families still beyond
    the tolerance without significance (not judged)."""
    unresolved = [family for family in families if family.unresolved]
    return (
        [f"{row['model']} {row['metric']}" for row in fail_worse_alone(rows, unresolved)
         if row["fails_gate"]]
        + [f"{family.family} (its family)" for family in families if family.worse]
        + [f"{family.family} (its family, not judged)" for family in unresolved]
    )  # fmt: skip


def run_values(documents: dict[str, list[dict]]) -> dict:
    """Per side and gated timing figure ("model params metric": each shape and configuration
    apart): each run's value and per-round values."""
    values: dict = defaultdict(dict)
    for label, runs in documents.items():
        for document in runs:
            for result in document["results"]:
                if result["unit"] in ("s", "tokens/s") and result["bench"] == "generate":
                    shape = params_text(result["params"])
                    key = " ".join(part for part in (result["model"], shape, result["metric"])
                                   if part)  # fmt: skip
                    values[label].setdefault(key, []).append(
                        {
                            "value": result["value"],
                            "rounds": round_values(result),
                            "probe_seconds": result.get("probe_seconds", []),
                        }  # fmt: skip
                    )
    return values


def gate_check(pytest_arguments, trials, runs, slowdown, rules: GateRules, out: Path,
               max_runs: int | None = None) -> str:  # fmt: skip
    """Run `trials` trials (see the module docstring), writing gate-check.json after each, and
    return the rates and the simulation as Markdown (also written to gate-check.md).
    max_runs None: `runs` pairs and no more (gate-check before 2026-12-01)."""
    max_runs = max_runs or runs
    sides = trial_sides(slowdown, Path.cwd())
    record = {"pytest_arguments": pytest_arguments, "runs": runs, "max_runs": max_runs,
              "slowdown": slowdown, "repeated_runs": REPEATED_RUNS, "trials": []}  # fmt: skip
    for trial in range(trials):
        print(f"lmgauge gate-check: trial {trial + 1}/{trials}", flush=True)
        documents = run_trial(sides, pytest_arguments, runs, max_runs, rules,
                              out / f"trial-{trial + 1:02d}")  # fmt: skip
        record["trials"].append({**judge_trial(documents, runs, rules),
                                 "values": run_values(documents)})  # fmt: skip
        write_text_atomic(strict_json(record, indent=1) + "\n", out / "gate-check.json")
    text = rates_text(record) + simulation_text(record, rules)
    write_text_atomic(text, out / "gate-check.md")
    return text


def noise_models(record: dict) -> dict[str, NoiseModel]:
    """Per timing figure with rounds, the noise model estimated from the same-code runs."""
    trials = record["trials"]
    models = {}
    for figure in sorted(trials[0]["values"].get("base", {})):
        if not figure.endswith(("ttft_seconds", "decode_step_seconds", "end_to_end_seconds")):
            continue
        pairs = [
            (b, s)
            for t in trials
            for b, s in zip(t["values"]["base"][figure], t["values"]["same"][figure], strict=False)
            if usable_run(b) and usable_run(s)
        ]  # fmt: skip
        if not pairs:
            continue
        base = [[b["rounds"] for b, _ in pairs]]
        same = [[s["rounds"] for _, s in pairs]]
        pair_logs = [math.log(b["value"] / s["value"]) for b, s in pairs]
        rate, shift = tail_from_pairs(pair_logs)
        models[figure] = replace(estimate(base, same), tail_rate=rate, tail_shift=shift)
    return models


def usable_run(run: dict) -> bool:
    """A run's recorded value and rounds are finite and positive (a strict-JSON record holds
    null where a run produced NaN)."""
    values = [run.get("value"), *run.get("rounds", [])]
    return all(is_finite(v) and v > 0 for v in values)


def simulation_text(record: dict, rules: GateRules, simulated: int = 1000) -> str:
    """Error rates of both gates on runs simulated from each figure's estimated noise."""
    factor = 1 + record["slowdown"]
    pairs = record["runs"]
    most = max(record.get("max_runs", MAX_RUNS), pairs)
    models = noise_models(record)
    if not models:
        return (
            "\nNo simulation: these runs timed no generation (time to first token, decode step, "
            "end to end), the figures the noise model is estimated for.\n"
        )
    lines = [
        "",
        f"## Simulated from the noise measured here ({simulated} comparisons of each kind, "
        f"{pairs} pairs per A/B comparison, up to {most})",
        "",
        "| figure | pair drift | run drift | round noise | tail (rate, shift) | A/B false alarms "
        "| A/B detects "
        f"{factor:g}x | stored false alarms | stored detects {factor:g}x | stored catches 19 "
        "in 20 from | suggested A/B tolerance | suggested stored tolerance |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for figure, model in models.items():
        ab_false = failure_rate(
            lambda rng, m=model: ab_fails(m, rng, pairs, 1.0, rules, most), simulated
        )
        ab_found = failure_rate(
            lambda rng, m=model: ab_fails(m, rng, pairs, factor, rules, most), simulated
        )
        stored_false = failure_rate(
            lambda rng, m=model: stored_fails(m, rng, 1.0, rules), simulated
        )
        stored_found = failure_rate(
            lambda rng, m=model: stored_fails(m, rng, factor, rules), simulated
        )
        lines.append(
            f"| {figure} | {model.pair_drift:.3f} | {model.run_drift:.3f} | "
            f"{model.round_noise:.3f} | {model.tail_rate:.3f}, {model.tail_shift:.2f} | "
            f"{ab_false:.3f} | {ab_found:.3f} | {stored_false:.3f} | "
            f"{stored_found:.3f} | {smallest_caught(model, rules):g}x | "
            f"{suggested_ab(model, pairs, most, rules):g} | {suggested_stored(model, rules):g} |"
        )
    lines += [
        "",
        "Drifts and noise are standard deviations of log time (0.05 is about 5 %); the tail is "
        "the share of runs shifted by an outlying amount (log), estimated from same-code pairs "
        "1.3x or more apart. A/B comparisons follow `lmgauge ab`'s rule: pairs are added while "
        "a verdict is borderline, up to --max-runs. A suggested "
        "tolerance is the smallest (in steps of 0.05) whose simulated false-alarm rate is at "
        "most 1 %: `[paired] relative` and the latency rule's `relative` in gate.toml.",
    ]
    return "\n".join(lines) + "\n"


def suggested_ab(model: NoiseModel, pairs: int, most: int, rules: GateRules) -> float:
    return suggested_tolerance(
        lambda rng, t: ab_fails(model, rng, pairs, 1.0, replace(rules, paired_relative=t), most)
    )


def suggested_stored(model: NoiseModel, rules: GateRules) -> float:
    return suggested_tolerance(lambda rng, t: stored_fails(model, rng, 1.0, rules, tolerance=t))


def smallest_caught(model: NoiseModel, rules: GateRules, trials: int = 200) -> float:
    """The smallest slowdown (in steps of 0.05) the stored-baseline gate fails 19 times in 20."""
    for step in range(1, 61):
        factor = round(1 + 0.05 * step, 2)
        fails = lambda rng, factor=factor: stored_fails(model, rng, factor, rules)  # noqa: E731
        if failure_rate(fails, trials) >= 0.95:
            return factor
    return float("inf")


def read_record(path: Path) -> dict:
    """A gate-check.json written earlier; LmgaugeError in one sentence when it cannot be read
    or is not a gate-check record (an object with at least one trial, its run count and its
    slowdown)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LmgaugeError(f"cannot read {path} as JSON: {error}.") from None
    shaped = (isinstance(record, dict) and isinstance(record.get("trials"), list)
              and record["trials"] and all(isinstance(t, dict) for t in record["trials"])
              and isinstance(record.get("runs"), int)
              and isinstance(record.get("slowdown"), (int, float)))  # fmt: skip
    if not shaped:
        raise LmgaugeError(f"{path} is not a gate-check record: it needs an object with a "
                           f"non-empty list of trials, `runs` and `slowdown`.")  # fmt: skip
    return record


def analyse(path: Path, rules: GateRules, show=print) -> None:
    """Show the rates, then the simulation (about a minute), of a gate-check.json written
    earlier."""
    record = read_record(path)
    show(rates_text(record))
    show("Simulating 1000 comparisons of each kind per figure (about a minute) ...")
    show(simulation_text(record, rules))


def rates_text(record: dict) -> str:
    """False-alarm and detection rates, per run and per figure, as Markdown."""
    trials = record["trials"]
    count = len(trials)
    most = record.get("max_runs", record["runs"])
    runs = f"{record['runs']} runs a side" + (f", up to {most}" if most > record["runs"] else "")
    repeated = record.get("repeated_runs", "every selected test, calibrated")
    lines = [f"# Gate check: {count} trials, {runs}, slowdown {record['slowdown']:g}", "",
             f"A side's runs after its first: {repeated}.", ""]  # fmt: skip
    pairs = {kind: [t[kind].get("ab_pairs", record["runs"]) for t in trials]
             for kind in ("same", "slowed")}  # fmt: skip
    ab_false = sum(bool(t["same"]["ab_failures"]) for t in trials)
    ab_found = sum(bool(t["slowed"]["ab_failures"]) for t in trials)
    stored_same = [bool(f) for t in trials for f in t["same"]["stored_failures"]]
    stored_slow = [bool(f) for t in trials for f in t["slowed"]["stored_failures"]]
    lines += [
        f"- A/B mode: false alarms {ab_false} of {count} same-code comparisons (judged on "
        f"{min(pairs['same'])}-{max(pairs['same'])} pairs); detections {ab_found} of {count} "
        f"slowed comparisons (judged on {min(pairs['slowed'])}-{max(pairs['slowed'])} pairs)",
        f"- stored-baseline mode (one report against one report): false alarms "
        f"{sum(stored_same)} of {len(stored_same)}; detections {sum(stored_slow)} of "
        f"{len(stored_slow)}",
        "",
        "| figure | same-code ratio (min..max) | A/B false alarms | slowed ratio (min..max) | "
        "A/B detections |",
        "|---|---|---|---|---|",
    ]
    for figure in sorted(trials[0]["same"]["ab_ratios"]):
        same = [t["same"]["ab_ratios"].get(figure) for t in trials]
        slow = [t["slowed"]["ab_ratios"].get(figure) for t in trials]
        same = [v for v in same if v is not None] or [float("nan")]
        slow = [v for v in slow if v is not None] or [float("nan")]
        false = sum(figure in t["same"]["ab_failures"] for t in trials)
        found = sum(figure in t["slowed"]["ab_failures"] for t in trials)
        lines.append(
            f"| {figure} | {min(same):.3f}..{max(same):.3f} | {false}/{count} | "
            f"{min(slow):.3f}..{max(slow):.3f} | {found}/{count} |"
        )
    return "\n".join(lines) + "\n"
