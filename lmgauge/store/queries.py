"""What history and the dashboard read from a store: one figure's values over runs, one series
per machine and parameter set, ordered by the runs' creation time."""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lmgauge.errors import first_line
from lmgauge.store.engine import StoreError
from lmgauge.store.schema import machines, results, runs

SERIES_COLUMNS = [
    "run_id", "created_utc", "name", "commit", "torch", "transformers", "machine_id",
    "machine_class", "hostname", "params_key", "value", "unit", "direction", "flags",
]  # fmt: skip


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
            results.c.direction,
            results.c.flags,
        )  # fmt: skip
        .join(runs, results.c.run_id == runs.c.id)
        .join(machines, runs.c.machine_id == machines.c.id)
        .where(results.c.metric == metric, results.c.model == model, results.c.config == config)
        .order_by(runs.c.created_utc, runs.c.id)
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as error:
        raise StoreError(
            f"could not read the store: {first_line(error.orig or error, 200)}"
        ) from None
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


def split_series(rows: pd.DataFrame, wanted: dict | None = None) -> dict[tuple, pd.DataFrame]:
    """{(machine_class, hostname, params_key): rows} for the rows whose params include
    `wanted`; runs of different machines are never in one series. A run that recorded the
    figure more than once for the same parameters (a repeated check) keeps its first value."""
    if rows.empty:
        return {}
    if wanted:
        keep = [all(json.loads(key).get(k) == v for k, v in wanted.items())
                for key in rows["params_key"]]  # fmt: skip
        rows = rows[keep]
    rows = rows.drop_duplicates(subset=["run_id", "params_key"], keep="first")
    hosts = rows["hostname"].fillna("")
    groups = rows.assign(hostname=hosts).groupby(
        ["machine_class", "hostname", "params_key"], sort=False
    )
    return {key: group.reset_index(drop=True) for key, group in groups}
