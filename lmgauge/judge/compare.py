"""Compare two run reports figure by figure: a pandas table of base, new, change, significance
and verdict, plus what differs between the two machines.

When the machines differ, raw times and throughputs are "not comparable"; what still means
something is compared instead: efficiencies against each machine's own roofline (they are
ordinary rows) and, per latency, each model's time relative to a reference model of the same
run (rows whose model reads "gpt2-medium / gpt2").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from lmgauge.judge.drift import Drift, hardware_differences, setup_differences, speed_drift
from lmgauge.judge.gate_rules import GateRules, Rule
from lmgauge.judge.significance import testable
from lmgauge.judge.verdicts import judge, round_values

CROSS_MODEL_RULE = Rule(relative=0.15, deterministic=True, reason="ratio of two models in one run")
COLUMNS = [
    "model", "bench", "metric", "params", "unit", "direction", "base", "new", "ratio", "change",
    "p_value", "ci_low", "ci_high", "verdict", "gated", "fails_gate", "tolerance", "note",
]  # fmt: skip


@dataclass
class Comparison:
    """rows: one per figure found in either report (COLUMNS); hardware / setup: 'field: base ->
    new' lines; drift: how the calibrated machine speed moved (lmgauge.judge.drift.speed_drift);
    base_name / new_name: where the reports came from."""

    rows: pd.DataFrame
    hardware: list[str]
    setup: list[str]
    drift: list[str]
    base_name: str
    new_name: str

    def gate_failures(self) -> pd.DataFrame:
        return self.rows[self.rows["fails_gate"]]


def result_key(result: dict) -> tuple:
    return (result["model"], result["bench"], result["metric"], params_text(result["params"]))


def params_text(params: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())


def indexed(document: dict) -> dict[tuple, dict]:
    """Results by (model, bench, metric, params); a later duplicate replaces an earlier one."""
    return {result_key(result): result for result in document["results"]}


def compare(
    base: dict, new: dict, rules: GateRules, base_name="base", new_name="new"
) -> Comparison:
    """Every figure of `base` and `new` (validated report documents), judged."""
    hardware = hardware_differences(base, new)
    setup, drift = setup_differences(base, new), speed_drift(base, new)
    unexplained = Drift() if setup else drift
    before, after = indexed(base), indexed(new)
    cross_model: set[tuple] = set()
    if hardware:
        for document, results in ((base, before), (new, after)):
            ratios = cross_model_ratios(document)
            results.update(ratios)
            cross_model.update(ratios)
    benched_now = set(new.get("models", {}))
    rows = []
    for key in list(dict.fromkeys([*before, *after])):
        model, bench, metric, params = key
        old, fresh = before.get(key), after.get(key)
        shown = fresh or old
        rule = CROSS_MODEL_RULE if key in cross_model else rules.rule_for(metric, shown["unit"])
        row = {
            "model": model, "bench": bench, "metric": metric, "params": params,
            "unit": shown["unit"], "direction": shown["direction"],
            "gated": can_fail(rule, old, fresh), "tolerance": rule.tolerance(),
        }  # fmt: skip
        if old is None or fresh is None:
            missing_now = fresh is None and model in benched_now
            row.update(
                base=old["value"] if old else math.nan,
                new=fresh["value"] if fresh else math.nan,
                ratio=math.nan,
                change="",
                p_value=math.nan,
                ci_low=math.nan,
                ci_high=math.nan,
                verdict="only in new" if old is None else "only in base",
                fails_gate=missing_now and row["gated"],
                note="missing from a model that was benched" if missing_now else "",
            )
        else:
            judgement = judge(
                old, fresh, rule, rules.alpha, bool(hardware), unexplained, normalize=not setup
            )
            row.update(base=old["value"], new=fresh["value"], **asdict(judgement))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return Comparison(frame, hardware, setup, list(drift.lines), base_name, new_name)


def can_fail(rule: Rule, old: dict | None, fresh: dict | None) -> bool:
    """Whether the figure is gated and can fail: a gated rule, and either a deterministic or
    exact rule, or rounds to test on both sides. Other figures are shown, not counted gated."""
    if not rule.gated:
        return False
    if rule.exact or rule.deterministic or old is None or fresh is None:
        return True
    return testable(round_values(old), round_values(fresh))


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
