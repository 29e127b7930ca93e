"""`lmgauge history` as text: each series of a figure (one machine, one parameter set), its runs
oldest first, and the steps found in it, each at the first run after it."""

from __future__ import annotations

import json

import pandas as pd

from lmgauge.judge.steps import Step, find_steps


def describe_step(step: Step, series: pd.DataFrame) -> str:
    first = series.iloc[step.index]
    versions = ", ".join(
        f"{name} {first[name]}" for name in ("torch", "transformers") if first[name]
    )
    return (
        f"step {step.change:+.1%} (95 % interval {step.low - 1:+.1%} to {step.high - 1:+.1%}, "
        f"Mann-Whitney p={step.p_value:.1g}, {step.before} runs before, {step.after} after) "
        f"first at run {first['run_id']} {first['created_utc']:%Y-%m-%d %H:%M} "
        f"'{first['name'] or ''}' commit {(first['commit'] or '?')[:10]} ({versions})"
    )


def series_text(key: tuple, series: pd.DataFrame, last: int | None = None) -> list[str]:
    machine_class, hostname, params_key = key
    steps = find_steps(series["value"])
    params = params_text(params_key) or "no parameters"
    lines = [f"## {machine_class}{' on ' + hostname if hostname else ''}: {params}",
             f"{len(series)} runs, {len(steps)} step(s)"]  # fmt: skip
    marks = {step.index: f"<- step {step.change:+.1%}" for step in steps}
    table = pd.DataFrame(
        {
            "run": series["run_id"],
            "time (UTC)": series["created_utc"].dt.strftime("%Y-%m-%d %H:%M"),
            "name": series["name"].fillna(""),
            "commit": series["commit"].fillna("").str[:10],
            f"value ({series['unit'].iloc[0]})": series["value"].map("{:.6g}".format),
            "": [marks.get(index, "") for index in range(len(series))],
        }
    )
    shown = table if last is None else table.tail(last)
    lines += ["", shown.to_string(index=False), ""]
    lines += [describe_step(step, series) for step in steps]
    return lines


EFFICIENCY_OF = {
    "decode_step_seconds": "decode_roofline_efficiency",
    "ttft_seconds": "prefill_roofline_efficiency",
    "forward_seconds": "forward_roofline_efficiency",
}
"""Latency figures and the efficiency against the machine's own roofline recorded beside them."""


def across_machines(series: dict, efficiency: dict | None) -> list[str]:
    """Machines side by side: runs, newest and median value, and, where the figure has one,
    the median efficiency against each machine's own roofline: the comparison that holds
    across hardware, since absolute times differ with the machine."""
    rows = []
    for key, values in series.items():
        row = {"machine": key[1] or key[0], "parameters": params_text(key[2]) or "-",
               "runs": len(values), "newest": values["value"].iloc[-1],
               "median": values["value"].median()}  # fmt: skip
        if efficiency is not None:
            found = efficiency.get(key)
            row["median roofline efficiency"] = (
                found["value"].median() if found is not None else None
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    return [
        "",
        "## Across machines",
        "",
        table.to_string(index=False, float_format="{:.4g}".format),
    ]


def params_text(params_key: str) -> str:
    """A stored parameter set (canonical JSON) as `k=v, k=v`; empty for none."""
    return ", ".join(f"{k}={v}" for k, v in json.loads(params_key).items())


def history_text(
    series: dict[tuple, pd.DataFrame], title: str, last: int | None = None,
    efficiency: dict | None = None,
) -> str:  # fmt: skip
    """The series one after another; with more than one machine, `across_machines` at the end
    (`efficiency`: the series of the figure's roofline efficiency, keyed alike)."""
    if not series:
        return f"{title}: no stored values.\n"
    lines = [f"# {title}"]
    for key, rows in series.items():
        lines += [""] + series_text(key, rows, last)
    if len({key[:2] for key in series}) > 1:
        lines += across_machines(series, efficiency)
    return "\n".join(lines) + "\n"
