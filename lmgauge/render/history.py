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
    params = ", ".join(f"{k}={v}" for k, v in json.loads(params_key).items()) or "no parameters"
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


def history_text(series: dict[tuple, pd.DataFrame], title: str, last: int | None = None) -> str:
    if not series:
        return f"{title}: no stored values.\n"
    lines = [f"# {title}"]
    for key, rows in series.items():
        lines += [""] + series_text(key, rows, last)
    return "\n".join(lines) + "\n"
