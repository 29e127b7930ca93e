"""Storing run reports: one transaction per report, so a report is stored whole or not at all,
and a report already stored (same report_key) is left as it is."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from lmgauge.errors import first_line
from lmgauge.record.ab_format import failing_rows_by_reason, row_name
from lmgauge.store.engine import StoreError
from lmgauge.store.schema import machines, results, runs, subjects, tests

DEFAULT_CONFIG = "default"


@dataclass(frozen=True)
class Stored:
    """run_id: the run's row (of runs, or of ab_runs for an A/B verdict); new: False when the
    report was stored before; kind: what was stored, in words ("run" or "A/B run")."""

    run_id: int
    new: bool
    kind: str = "run"


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def report_key(document: dict) -> str:
    """sha256 of what identifies a report: its creation time, run section and environment."""
    identity = [document.get("created_utc"), document["run"], document["environment"]]
    return hashlib.sha256(canonical(identity).encode()).hexdigest()


def machine_facts(environment: dict) -> dict:
    """The machine a report ran on. Its class (CPU model, cores, memory, GPU) is what series
    are kept apart by when no host name was recorded (reports before the store)."""
    ram_gib = round((environment.get("ram_bytes") or 0) / 2**30)
    facts = {
        "hostname": environment.get("hostname"),
        "cpu_model": environment.get("cpu_model"),
        "cpu_cores": environment.get("cpu_cores_physical"),
        "ram_gib": ram_gib,
        "gpu": environment.get("gpu"),
    }
    facts["machine_class"] = (
        f"{facts['cpu_model']} x{facts['cpu_cores']}, {ram_gib} GiB, GPU {facts['gpu'] or 'none'}"
    )
    facts["fingerprint"] = hashlib.sha256(canonical(facts).encode()).hexdigest()
    return facts


def store_report(engine: Engine, document: dict, path: str | None = None) -> Stored:
    """Store one checked report (lmgauge.record.report.read_report); StoreError on failure."""
    key = report_key(document)
    try:
        with engine.begin() as connection:
            found = connection.execute(select(runs.c.id).where(runs.c.report_key == key)).scalar()
            if found is not None:
                return Stored(found, new=False)
            run_id = insert_run(connection, document, key, path)
            insert_rows(connection, run_id, document)
            return Stored(run_id, new=True)
    except IntegrityError:
        with engine.connect() as connection:
            found = connection.execute(select(runs.c.id).where(runs.c.report_key == key)).scalar()
        if found is not None:  # another process stored the same report meanwhile
            return Stored(found, new=False)
        raise StoreError(f"the store refused report {path or key[:12]}.") from None
    except SQLAlchemyError as error:
        raise StoreError(
            f"could not store report {path or key[:12]}: {first_line(error.orig or error, 200)}"
        ) from None


def machine_id(connection: Connection, environment: dict) -> int:
    facts = machine_facts(environment)
    query = select(machines.c.id).where(machines.c.fingerprint == facts["fingerprint"])
    found = connection.execute(query).scalar()
    if found is not None:
        return found
    try:
        with connection.begin_nested():
            return connection.execute(machines.insert().values(**facts)).inserted_primary_key[0]
    except IntegrityError:  # another process added the same machine meanwhile
        return connection.execute(query).scalar()


def created_at(document: dict) -> datetime:
    text = document.get("created_utc") or "1970-01-01T00:00:00+00:00"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def insert_run(connection: Connection, document: dict, key: str, path: str | None) -> int:
    run, environment = document["run"], document["environment"]
    git = environment.get("git") or {}
    libraries = environment.get("libraries") or {}
    values = {
        "report_key": key,
        "machine_id": machine_id(connection, environment),
        "name": run.get("name"),
        "created_utc": created_at(document),
        "status": run["status"],
        "duration_s": run.get("duration_s"),
        "commit": git.get("commit"),
        "dirty": int(bool(git.get("dirty"))),
        "torch": libraries.get("torch"),
        "transformers": libraries.get("transformers"),
        "report_schema": document.get("schema_version"),
        "report_path": path,
        "options": run.get("options"),
        "environment": environment,
        "calibration": document.get("calibration"),
        "gate": run.get("gate"),
        "stored_utc": datetime.now(timezone.utc).replace(tzinfo=None),
    }
    return connection.execute(runs.insert().values(**values)).inserted_primary_key[0]


def insert_rows(connection: Connection, run_id: int, document: dict) -> None:
    subject_rows = [
        {"run_id": run_id, "name": name, "model": facts.get("name", name),
         "config": (facts.get("config") or {}).get("name", DEFAULT_CONFIG), "facts": facts}
        for name, facts in document["models"].items()
    ]  # fmt: skip
    if subject_rows:
        connection.execute(subjects.insert(), subject_rows)
    result_rows = [result_row(run_id, result) for result in document["results"]]
    if result_rows:
        connection.execute(results.insert(), result_rows)
    test_rows = [
        {"run_id": run_id, "test": t["test"], "outcome": t["outcome"], "message": t.get("message")}
        for t in document.get("tests", {}).get("not_passed", [])
    ]
    if test_rows:
        connection.execute(tests.insert(), test_rows)


def result_row(run_id: int, result: dict) -> dict:
    params = dict(result.get("params") or {})
    config = params.pop("config", DEFAULT_CONFIG)
    return {
        "run_id": run_id,
        "bench": result["bench"],
        "model": result["model"],
        "config": config,
        "metric": result["metric"],
        "params_key": canonical(params),
        "value": result["value"],
        "unit": result.get("unit"),
        "direction": result.get("direction"),
        "params": params,
        "rounds": result.get("rounds") or result.get("samples") or [],
        "summary": result.get("summary"),
        "flags": result.get("flags"),
        "threshold": (result.get("threshold") or {}).get("verdict"),
    }


def ab_reasons(document: dict) -> list[str]:
    """Why an A/B verdict failed, one line a reason, a failing figure's with its ratio; for a
    report written before `reasons`, its failing figures, or that it does not say."""
    if isinstance(document.get("reasons"), list):
        rows = failing_rows_by_reason(document)
        return [with_ratio(reason, rows.get(reason)) for reason in map(str, document["reasons"])]
    failing = [row for row in document.get("rows", []) if row.get("fails_gate")]
    lines = [with_ratio(f"{row_name(row)}: failed", row) for row in failing]
    if not lines and not document.get("passed"):
        lines = ["an A/B report from before lmgauge recorded its reasons: see its ab.md"]
    return lines


def with_ratio(reason: str, row: dict | None) -> str:
    ratio = (row or {}).get("ratio")
    return f"{reason} (ratio {ratio:.3g})" if isinstance(ratio, float | int) else reason


def store_ab(engine: Engine, document: dict, path: str | None = None) -> Stored:
    """Store an A/B report's verdict (lmgauge ab's ab.json): its sides, pairs, whether it
    passed and why not (its `reasons`: tests, an early stop, figures; a report written before
    `reasons` gives its failing figures); once per report, like a run."""
    from lmgauge.store.schema import ab_runs

    key = hashlib.sha256(canonical([document.get("created_utc"), document.get("sides")]).encode())
    key = key.hexdigest()
    rows = document.get("rows", [])
    failing = ab_reasons(document)
    sides = document.get("sides", {})
    values = {
        "report_key": key, "created_utc": created_at(document), "status": document["status"],
        "passed": int(bool(document.get("passed"))),
        "base": (sides.get("base") or {}).get("description"),
        "new": (sides.get("new") or {}).get("description"), "pairs": document.get("pairs"),
        "gated": sum(bool(r.get("gated")) for r in rows), "failures": failing,
        "report_path": path, "stored_utc": datetime.now(timezone.utc).replace(tzinfo=None),
    }  # fmt: skip
    try:
        with engine.begin() as connection:
            found = connection.execute(select(ab_runs.c.id).where(ab_runs.c.report_key == key))
            found = found.scalar()
            if found is not None:
                return Stored(found, new=False, kind="A/B run")
            inserted = connection.execute(ab_runs.insert().values(**values))
            return Stored(inserted.inserted_primary_key[0], new=True, kind="A/B run")
    except SQLAlchemyError as error:
        raise StoreError(
            f"could not store A/B report {path or key[:12]}: {first_line(error.orig or error, 200)}"
        ) from None
