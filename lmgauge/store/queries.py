"""What history and the dashboard read from a store: one figure's values over runs, one series
per machine and parameter set, ordered by the runs' creation time."""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lmgauge.errors import first_line
from lmgauge.store.engine import StoreError
from lmgauge.store.schema import machines, results, runs, subjects, tests

SERIES_COLUMNS = [
    "run_id", "created_utc", "name", "commit", "torch", "transformers", "machine_id",
    "machine_class", "hostname", "params_key", "value", "unit", "options",
]  # fmt: skip
SETUP_OPTIONS = ("device", "dtype", "threads")
"""Run options that split a machine's history: a change of setting is not a step."""


def figure_rows(engine: Engine, metric: str, model: str, config: str = "default") -> pd.DataFrame:
    """Every stored value of `metric` for `model` in `config`, with its run and machine, oldest
    run first (columns SERIES_COLUMNS)."""
    query = (
        select(
            runs.c.id.label("run_id"),
            runs.c.created_utc,
            runs.c.name,
            runs.c.commit,
            runs.c.torch,
            runs.c.transformers,
            runs.c.machine_id,
            machines.c.machine_class,
            machines.c.hostname,
            results.c.params_key,
            results.c.value,
            results.c.unit,
            runs.c.options,
        )  # fmt: skip
        .join(runs, results.c.run_id == runs.c.id)
        .join(machines, runs.c.machine_id == machines.c.id)
        .where(results.c.metric == metric, results.c.model == model, results.c.config == config)
        .order_by(runs.c.created_utc, runs.c.id)
    )
    return read_frame(engine, query)


def split_series(rows: pd.DataFrame, wanted: dict | None = None) -> dict[tuple, pd.DataFrame]:
    """{(machine_class, hostname, series key): rows} for the rows whose params include
    `wanted`; the series key is the params (JSON) with the run's device, dtype and threads
    added where the params do not name them, so runs of different machines or settings are
    never in one series. A run that recorded the figure more than once for the same
    parameters (a repeated check) keeps its first value."""
    if rows.empty:
        return {}
    if wanted:
        keep = [all(json.loads(key).get(k) == v for k, v in wanted.items())
                for key in rows["params_key"]]  # fmt: skip
        rows = rows[keep]
    rows = rows.drop_duplicates(subset=["run_id", "params_key"], keep="first")
    hosts = rows["hostname"].fillna("")
    options = rows["options"] if "options" in rows else pd.Series([None] * len(rows))
    keys = [series_key(params, run_options) for params, run_options in zip(
        rows["params_key"], options, strict=True)]  # fmt: skip
    groups = rows.assign(hostname=hosts, series_key=keys).groupby(
        ["machine_class", "hostname", "series_key"], sort=False
    )
    return {key: group.reset_index(drop=True) for key, group in groups}


def series_key(params_key: str, options) -> str:
    """The params with the run's setup options (SETUP_OPTIONS) added under their own names."""
    if isinstance(options, str):
        options = json.loads(options)
    setup = {name: (options or {}).get(name) for name in SETUP_OPTIONS}
    setup = {name: value for name, value in setup.items() if value is not None}
    return json.dumps({**setup, **json.loads(params_key)}, sort_keys=True)


def recent_runs(engine: Engine, limit: int = 30) -> pd.DataFrame:
    """The newest runs, newest first: id, time, name, status, commit, machine, gate."""
    query = (
        select(
            runs.c.id.label("run_id"),
            runs.c.created_utc,
            runs.c.name,
            runs.c.status,
            runs.c.commit,
            machines.c.machine_class,
            machines.c.hostname,
            runs.c.gate,
            runs.c.options,
        )  # fmt: skip
        .join(machines, runs.c.machine_id == machines.c.id)
        .order_by(runs.c.created_utc.desc(), runs.c.id.desc())
        .limit(limit)
    )
    return read_frame(engine, query)


def figures_of(engine: Engine) -> pd.DataFrame:
    """Every (model, config, metric) with stored values, and in how many runs."""
    query = (
        select(
            results.c.model,
            results.c.config,
            results.c.metric,
            func.count(func.distinct(results.c.run_id)).label("runs"),
        )  # fmt: skip
        .group_by(results.c.model, results.c.config, results.c.metric)
        .order_by(results.c.model, results.c.config, results.c.metric)
    )
    return read_frame(engine, query)


def run_document(engine: Engine, run_id: int) -> dict:
    """One stored run as a report-like document (run options, models, results with their
    parameters and threshold verdicts, tests not passed): what the report renderers read."""
    with engine.connect() as connection:
        run = connection.execute(select(runs).where(runs.c.id == run_id)).one()._mapping
        models = connection.execute(select(subjects).where(subjects.c.run_id == run_id)).all()
        stored = connection.execute(select(results).where(results.c.run_id == run_id)).all()
        failed = connection.execute(select(tests).where(tests.c.run_id == run_id)).all()
    return {
        "run": {
            "name": run["name"],
            "status": run["status"],
            "options": run["options"] or {},
            "gate": run["gate"],
        },  # fmt: skip
        "created_utc": str(run["created_utc"]),
        "environment": run["environment"] or {},
        "models": {row.name: row.facts or {} for row in models},
        "results": [stored_result(row) for row in stored],
        "tests": {
            "not_passed": [
                {"test": t.test, "outcome": t.outcome, "message": t.message} for t in failed
            ]
        },  # fmt: skip
    }


def stored_result(row) -> dict:
    params = dict(row.params or {})
    if row.config != "default":
        params["config"] = row.config
    return {"bench": row.bench, "model": row.model, "metric": row.metric, "value": row.value,
            "unit": row.unit, "params": params,
            "threshold": {"verdict": row.threshold} if row.threshold else None}  # fmt: skip


def read_frame(engine: Engine, query) -> pd.DataFrame:
    try:
        with engine.connect() as connection:
            result = connection.execute(query)
            return pd.DataFrame(result.all(), columns=list(result.keys()))
    except SQLAlchemyError as error:
        raise StoreError(
            f"could not read the store: {first_line(error.orig or error, 200)}"
        ) from None


def export_rows(engine: Engine, model: str | None = None, metric: str | None = None):
    """Every stored result (or those of one model and/or metric) with its run and machine, one
    flat row each, oldest run first: the table a published dataset holds."""
    query = (
        select(
            runs.c.id.label("run_id"),
            runs.c.created_utc,
            runs.c.name.label("run_name"),
            runs.c.status,
            runs.c.commit,
            runs.c.torch,
            runs.c.transformers,
            machines.c.machine_class,
            machines.c.hostname,
            machines.c.gpu,
            results.c.bench,
            results.c.model,
            results.c.config,
            results.c.metric,
            results.c.params_key.label("params"),
            results.c.value,
            results.c.unit,
            results.c.direction,
            results.c.threshold,
        )  # fmt: skip
        .join(runs, results.c.run_id == runs.c.id)
        .join(machines, runs.c.machine_id == machines.c.id)
        .order_by(runs.c.created_utc, runs.c.id, results.c.id)
    )
    if model:
        query = query.where(results.c.model == model)
    if metric:
        query = query.where(results.c.metric == metric)
    return read_frame(engine, query)


def recent_ab_runs(engine: Engine, limit: int = 20) -> pd.DataFrame:
    """The newest A/B verdicts, newest first."""
    from lmgauge.store.schema import ab_runs

    query = select(ab_runs).order_by(ab_runs.c.created_utc.desc()).limit(limit)
    return read_frame(engine, query)
