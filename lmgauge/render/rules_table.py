"""The gate rules as a Markdown table: which figures, what tolerance, gated or only shown.

The README's table is this function's output for lmgauge/judge/gate.toml (`lmgauge rules`), and
tests/test_readme.py checks that the two agree.
"""

from __future__ import annotations

from lmgauge.judge.gate_rules import GateRules


def rules_markdown(rules: GateRules) -> str:
    """One row per rule in the order they are tried, then the rule for figures no rule names."""
    lines = ["| figures | tolerance | gated |", "|---|---|---|"]
    for rule in (*rules.rules, rules.fallback):
        figures = rule.figures or ", ".join((*rule.metrics, *rule.units))
        lines.append(f"| {figures} | {rule.tolerance()} | {'yes' if rule.gated else 'no'} |")
    return "\n".join(lines) + "\n"
