"""How the store scales: synthesise many runs from one real report (varied machines, commits,
times and values, with a 20 % slowdown on one machine from 60 % of the runs on), store them,
and time ingest, one figure's history and the dashboard, and the database's size per run."""

from __future__ import annotations

import copy
import hashlib
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

CPUS = ("AMD EPYC", "Intel Xeon Platinum", "Apple M2")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def synthesise(template: dict, index: int, runs: int, machines: int, rng) -> dict:
    """Run `index` of `runs`: on runner-(index mod machines), 10 minutes after the one before,
    a new commit every 5 runs; times scaled by run-to-run noise of 3 %, and by 1.2 on runner-0
    from run 0.6 x runs on."""
    document = copy.deepcopy(template)
    machine = index % machines
    commit = hashlib.sha1(str(index // 5).encode()).hexdigest()
    document["environment"] = {
        **document["environment"], "hostname": f"runner-{machine}",
        "cpu_model": CPUS[machine % len(CPUS)], "git": {"commit": commit, "dirty": False},
    }  # fmt: skip
    document["created_utc"] = (START + timedelta(minutes=10 * index)).isoformat()
    document["run"]["name"] = f"synthetic-{index}"
    scale = float(np.exp(rng.normal(0, 0.03)))
    if machine == 0 and index >= 0.6 * runs:
        scale *= 1.2
    for result in document["results"]:
        if result["unit"] == "s":
            result["value"] *= scale
            result["rounds"] = [value * scale for value in result.get("rounds") or []]
    return document


def database_bytes(engine) -> int:
    from sqlalchemy import text

    if engine.dialect.name == "sqlite":
        return Path(engine.url.database).stat().st_size
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_database_size(current_database())")).scalar()


def measure(url: str, template: dict, runs: int, machines: int, model: str) -> dict:
    """Store `runs` synthetic runs at `url` and time what users do with them (seconds)."""
    from lmgauge.judge.steps import find_steps
    from lmgauge.render.dashboard import write_site
    from lmgauge.store.engine import open_store
    from lmgauge.store.queries import figure_rows, split_series
    from lmgauge.store.writing import store_report

    engine = open_store(url)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for index in range(runs):
        store_report(engine, synthesise(template, index, runs, machines, rng))
    ingest = time.perf_counter() - started
    started = time.perf_counter()
    series = split_series(figure_rows(engine, "decode_step_seconds", model),
                          {"prompt_tokens": 128, "new_tokens": 32})  # fmt: skip
    steps = {key[1]: [s.index for s in find_steps(rows["value"])] for key, rows in series.items()}
    history = time.perf_counter() - started
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        write_site(engine, Path(folder), url)
    dashboard = time.perf_counter() - started
    return {
        "runs": runs, "ingest_s": ingest, "reports_per_s": runs / ingest, "history_s": history,
        "series": len(series), "steps": steps,
        "dashboard_s": dashboard, "bytes_per_run": database_bytes(engine) / runs,
    }  # fmt: skip
