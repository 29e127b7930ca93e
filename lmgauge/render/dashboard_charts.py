"""The dashboard's interactive charts (plotly): a figure's history per machine with its steps
marked, and the scaling of latency with size across the models of one run."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from lmgauge.judge.steps import find_steps
from lmgauge.render.history import params_text

MANY_POINTS = 1000
"""Series longer than this are drawn with WebGL (scattergl), which stays fluid at 10,000."""


def machine_label(machine_class: str, hostname) -> str:
    """A machine named the same way on every page: its class (CPU or GPU), then its host name
    when one was recorded."""
    host = hostname if isinstance(hostname, str) and hostname else ""
    return f"{machine_class} ({host})" if host and host != machine_class else machine_class


def series_label(key: tuple) -> str:
    machine_class, hostname, params_key = key
    params = params_text(params_key)
    where = machine_label(machine_class, hostname)
    return f"{where}: {params}" if params else where


ONE_RUN_SPAN = pd.Timedelta(days=1)
"""Half the width of the time axis of a chart whose runs all share one time: plotly would
otherwise zoom to ticks a tenth of a millisecond apart."""


def history_chart(title: str, unit: str, series: dict[tuple, pd.DataFrame]) -> go.Figure:
    """One trace per series (machine, parameters); each step found in a series is a dashed
    vertical line at the first run after it, labelled with its size. The value axis starts at
    zero, so that a change of a few tenths of a percent does not look like a cliff; a chart
    whose runs share one time spans two days around it."""
    figure = go.Figure()
    for key, rows in series.items():
        trace = go.Scattergl if len(rows) > MANY_POINTS else go.Scatter
        hover = [
            f"run {r.run_id} {r.name or ''}<br>{r.created_utc:%Y-%m-%d %H:%M}<br>"
            f"commit {(r.commit or '?')[:10]}<br>torch {r.torch}, transformers {r.transformers}"
            for r in rows.itertuples()
        ]
        figure.add_trace(
            trace(
                x=rows["created_utc"], y=rows["value"], mode="lines+markers",
                name=series_label(key), text=hover,
                hovertemplate="%{y:.4g} " + unit + "<br>%{text}<extra></extra>",
            )
        )  # fmt: skip
        for step in find_steps(rows["value"]):
            at = rows["created_utc"].iloc[step.index]
            figure.add_vline(x=at, line_dash="dash", line_color="crimson")
            figure.add_annotation(
                x=at, y=1, yref="paper", showarrow=False, yanchor="bottom",
                text=f"step {step.change:+.1%}", font={"color": "crimson"},
            )  # fmt: skip
    times = pd.concat([rows["created_utc"] for rows in series.values()])
    if times.nunique() == 1:
        only = times.iloc[0]
        figure.update_xaxes(
            range=[only - ONE_RUN_SPAN, only + ONE_RUN_SPAN],
            dtick=ONE_RUN_SPAN.total_seconds() * 1000, tickformat="%Y-%m-%d",
        )  # fmt: skip
    figure.update_layout(
        title=title, xaxis_title="run (UTC)", yaxis_title=unit, height=380,
        margin={"l": 60, "r": 20, "t": 60, "b": 40}, legend={"orientation": "h", "y": -0.25},
        hovermode="closest", yaxis_rangemode="tozero", showlegend=True,
    )  # fmt: skip
    return figure


def scaling_chart(document: dict, values_by_model) -> go.Figure | None:
    """Decode step (prompt 128, 32 new) against parameter count across one run's models."""
    parameters = values_by_model(document, "parameters_total")
    step = values_by_model(document, "decode_step_seconds", batch=1, prompt_tokens=128,
                           new_tokens=32)  # fmt: skip
    models = [m for m in parameters if m in step]
    if not models:
        return None
    figure = go.Figure(go.Scatter(
        x=[parameters[m] / 1e6 for m in models], y=[step[m] * 1e3 for m in models],
        mode="markers+text", text=models, textposition="top center", cliponaxis=False,
        hovertemplate="%{text}: %{x:.1f} M parameters, %{y:.1f} ms<extra></extra>",
    ))  # fmt: skip
    figure.update_layout(
        title="Decode step against size, newest run (milliseconds; lower is better)", height=380,
        xaxis_title="parameters (millions)", yaxis_title="decode step (ms)",
    )  # fmt: skip
    return figure
