"""`lmgauge dashboard`: a static site from a results store, readable from disk or any static
host. index.html: the newest run (status, failures, gate), its configuration table and model
scaling, the recent runs with their gate verdicts, the A/B verdicts, and one page per model;
each model page charts every dashboard figure's history per machine with its steps
(dashboard_charts).
plotly.js is written once beside the pages, so the site needs no network."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from lmgauge.errors import LmgaugeError
from lmgauge.judge.gate import gate_verdict
from lmgauge.record.metrics import METRICS
from lmgauge.record.report import values_by_model
from lmgauge.render.configs_table import configs_shown, has_configs
from lmgauge.render.dashboard_charts import history_chart, machine_label, scaling_chart
from lmgauge.render.serving_table import has_served, serving_frame
from lmgauge.store.queries import (
    figure_rows,
    figures_of,
    recent_ab_runs,
    recent_runs,
    run_document,
    split_series,
)

FIGURES = (
    "decode_step_seconds", "ttft_seconds", "decode_tokens_per_second", "forward_seconds",
    "warm_load_seconds", "cold_load_seconds", "resident_weights_bytes", "forward_peak_bytes",
    "generate_peak_bytes", "perplexity", "known_answer_accuracy", "top1_agreement",
    "baseline_accuracy", "decode_roofline_efficiency",
)  # fmt: skip
"""The figures whose histories the model pages chart, in this order (when stored)."""
STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}
table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 6px}
.fail{color:crimson}.pass{color:green}h2{margin-top:1.5em}"""


class DashboardError(LmgaugeError):
    """The dashboard folder cannot be written."""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def page(title: str, body: list[str]) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<script src='plotly.min.js'></script><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(body)}</body></html>"
    )


def chart_html(figure, name: str) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}")


def newest_run_section(engine, newest: pd.Series) -> list[str]:
    document = run_document(engine, int(newest["run_id"]))
    failed = [t for t in document["tests"]["not_passed"] if t["outcome"] == "failed"]
    gate = newest["gate"]
    parts = [
        f"<h2>Newest run: {html.escape(run_title(newest))}</h2>",
        f"<p>{newest['created_utc']:%Y-%m-%d %H:%M} UTC on "
        f"{html.escape(machine_label(newest['machine_class'], newest['hostname']))}"
        f", status <b class='{'pass' if newest['status'] == 'passed' else 'fail'}'>"
        f"{newest['status']}</b>, commit {(newest['commit'] or '?')[:10]}"
        f"{gate_text(gate)}</p>",
        "<ul>" + "".join(f"<li class='fail'>{html.escape(t['test'])}: "
                         f"{html.escape(t['message'] or '')}</li>" for t in failed) + "</ul>",
    ]  # fmt: skip
    if has_configs(document):
        parts += ["<h2>Configurations</h2>", configs_shown(document).to_html()]
    if has_served(document):
        served = serving_frame(document).reset_index()
        table = served.to_html(index=False, na_rep="", float_format=readable_number)
        parts += ["<h2>Served under load</h2>", table]
    scaling = scaling_chart(document, values_by_model)
    if scaling is not None:
        parts.append(chart_html(scaling, "scaling"))
    return parts


def readable_number(value: float) -> str:
    """Four significant digits, without exponent below a million: 18600, 0.1293."""
    return f"{value:.0f}" if 1e4 <= abs(value) < 1e6 else f"{value:.4g}"


def run_title(run: pd.Series) -> str:
    """A run's name, or "run N" for a run saved without one (a missing name is NaN here)."""
    name = run["name"]
    return name if isinstance(name, str) and name else f"run {run['run_id']}"


def gate_text(gate) -> str:
    if not gate:
        return ""
    return (f", gate against {html.escape(str(gate.get('base')))}: "
            f"{html.escape(gate_verdict(gate))}")  # fmt: skip


def runs_table(runs: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "run": runs["run_id"], "time (UTC)": runs["created_utc"].dt.strftime("%Y-%m-%d %H:%M"),
        "name": runs["name"].fillna(""), "status": runs["status"],
        "commit": runs["commit"].fillna("").str[:10],
        "machine": [machine_label(c, h) for c, h in zip(runs["machine_class"], runs["hostname"],
                                                        strict=True)],
        "gate": [gate_text(g).removeprefix(", ") for g in runs["gate"]],
    })  # fmt: skip
    return shown.to_html(index=False, escape=True)


def ab_table(ab: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "time (UTC)": ab["created_utc"].dt.strftime("%Y-%m-%d %H:%M"), "base": ab["base"],
        "new": ab["new"], "pairs": ab["pairs"], "status": ab["status"],
        "verdict": ["passed" if p else "FAILED" for p in ab["passed"]],
        "why it failed": ["; ".join(f or []) for f in ab["failures"]],
    })  # fmt: skip
    return shown.to_html(index=False, escape=True)


def model_page(engine, model: str, config: str, metrics: list[str]) -> str:
    body = ["<p><a href='index.html'>all models</a></p>"]
    for metric in [m for m in FIGURES if m in metrics]:
        series = split_series(figure_rows(engine, metric, model, config))
        if series:
            entry = METRICS.get(metric)
            title, unit = (entry.heading, entry.unit) if entry else (metric, "")
            body.append(chart_html(history_chart(title, unit, series), metric))
    return page(f"{model} ({config})", body)


def write_site(engine, out: Path, store_name: str) -> list[Path]:
    """Write the site into `out`; the pages written. DashboardError when `out` cannot be."""
    import plotly.offline

    runs = recent_runs(engine)
    ab = recent_ab_runs(engine)
    figures = figures_of(engine)
    pages: dict[str, str] = {}
    links = []
    measured = figures[figures["model"] != ""]  # run-wide figures (calibration, data) have no model
    for (model, config), rows in measured.groupby(["model", "config"], sort=True):
        name = f"model-{slug(model)}-{slug(config)}.html"
        pages[name] = model_page(engine, model, config, list(rows["metric"]))
        links.append(f"<li><a href='{name}'>{html.escape(model)} ({html.escape(config)})</a></li>")
    body = [f"<p>Store {html.escape(store_name)}: {len(runs)} newest runs shown.</p>"]
    if not runs.empty:
        body += newest_run_section(engine, runs.iloc[0])
        body += ["<h2>Models</h2><ul>", *links, "</ul><h2>Recent runs</h2>", runs_table(runs)]
    if not ab.empty:
        body += ["<h2>A/B verdicts</h2>", ab_table(ab)]
    pages["index.html"] = page("lmgauge dashboard", body)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "plotly.min.js").write_text(plotly.offline.get_plotlyjs())
        for name, text in pages.items():
            (out / name).write_text(text)
    except OSError as error:
        raise DashboardError(f"cannot write the dashboard into {out}: {error.strerror}.") from None
    return [out / name for name in pages]
