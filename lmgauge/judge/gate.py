"""The gate: does a new run pass against a base run? Used by `lmgauge gate` and by
`pytest benches --gate=BASE`.

A run fails the gate when any gated figure (lmgauge/judge/gate.toml) got worse beyond its tolerance
and, where rounds allow a test, significantly; when an exact figure such as a parameter
count changed; or when a gated figure disappeared for a model that was benched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lmgauge.judge.compare import Comparison, compare
from lmgauge.judge.gate_rules import GateRules, load_gate_rules

DEFAULT_RULES = Path(__file__).with_name("gate.toml")


@dataclass
class GateResult:
    comparison: Comparison

    @property
    def failures(self):
        return self.comparison.gate_failures()

    @property
    def passed(self) -> bool:
        return self.failures.empty

    def message(self) -> str:
        """Multi-line verdict: PASSED or FAILED with every failing figure."""
        gated = int(self.comparison.rows["gated"].sum())
        if self.passed:
            return f"lmgauge gate: PASSED ({gated} gated figures, none worse beyond tolerance)"
        lines = [f"lmgauge gate: FAILED: {len(self.failures)} of {gated} gated figures"]
        lines += [failure_line(row) for row in self.failures.itertuples()]
        return "\n".join(lines)


def failure_line(row) -> str:
    p_value = "" if math.isnan(row.p_value) else f", p = {row.p_value:.3g}"
    note = f"; {row.note}" if row.note else ""
    return (
        f"  {row.model} {row.metric} {row.params}: {row.base:.4g} -> {row.new:.4g} {row.unit} "
        f"({row.change or row.verdict}{p_value}; tolerance {row.tolerance}{note})"
    )


def run_gate(
    base: dict, new: dict, rules: GateRules | None = None, base_name="base", new_name="new"
) -> GateResult:
    rules = rules or load_gate_rules(DEFAULT_RULES)
    return GateResult(compare(base, new, rules, base_name, new_name))


def gate_summary(result: GateResult, base_path: str) -> dict:
    """JSON-ready outcome for the run report's `run.gate`."""
    keys = ("model", "metric", "params", "base", "new", "verdict", "note")
    failures = result.failures
    return {
        "base": base_path,
        "passed": result.passed,
        "failures": [
            {key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in row.items()}
            for row in failures[list(keys)].to_dict(orient="records")
        ],
    }
