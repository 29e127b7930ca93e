"""The gate rules as a Markdown table: which figures, what tolerance, gated or only shown.

The README's table is this function's output for lmgauge/judge/gate.toml (`lmgauge rules`), and
tests/test_readme.py checks that the two agree.
"""

from __future__ import annotations

from lmgauge.judge.gate_rules import GateRules


def rules_markdown(rules: GateRules) -> str:
    """One row per rule in the order they are tried, then the rule for figures no rule names."""
    lines = ["| figures | tolerance | gated | run-to-run spread (one base run) |",
             "|---|---|---|---|"]  # fmt: skip
    for rule in (*rules.rules, rules.fallback):
        figures = rule.figures or ", ".join((*rule.metrics, *rule.units))
        spread = f"{100 * rule.run_spread:g} %" if rule.run_spread is not None else "-"
        gated = "yes" if rule.gated else "no"
        lines.append(f"| {figures} | {rule.tolerance()} | {gated} | {spread} |")
    return "\n".join(lines) + "\n"
