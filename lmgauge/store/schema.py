"""The store's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

A run is one stored report: its machine, the subjects it measured (model in a configuration),
its results and its tests. `runs.report_key` (sha256 of the report's identity: creation time,
name, machine and options) is unique, so storing a report twice changes nothing and two
processes storing the same report at once leave one copy.

Schema versions (table `lmgauge_schema`, one row):
  1 (2026-11-24): machines, runs, subjects, results, tests, ab_runs (A/B verdicts).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1

metadata = MetaData()

schema_version = Table(
    "lmgauge_schema",
    metadata,
    Column("version", Integer, primary_key=True),
)

machines = Table(
    "machines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("machine_class", String(300), nullable=False),
    Column("hostname", String(255)),
    Column("cpu_model", String(255)),
    Column("cpu_cores", Integer),
    Column("ram_gib", Integer),
    Column("gpu", String(255)),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_key", String(64), nullable=False, unique=True),
    Column("machine_id", ForeignKey("machines.id"), nullable=False),
    Column("name", String(255)),
    Column("created_utc", DateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("duration_s", Float),
    Column("commit", String(64)),
    Column("dirty", Integer),
    Column("torch", String(64)),
    Column("transformers", String(64)),
    Column("report_schema", Integer, nullable=False),
    Column("report_path", Text),
    Column("options", JSON),
    Column("environment", JSON),
    Column("calibration", JSON),
    Column("gate", JSON),
    Column("stored_utc", DateTime, nullable=False),
    Index("runs_by_machine_time", "machine_id", "created_utc"),
)

subjects = Table(
    "subjects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("model", String(500)),
    Column("config", String(100)),
    Column("facts", JSON),
    UniqueConstraint("run_id", "name"),
)

results = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("bench", String(100), nullable=False),
    Column("model", String(500), nullable=False),
    Column("config", String(100), nullable=False),
    Column("metric", String(100), nullable=False),
    Column("params_key", Text, nullable=False),
    Column("value", Float),
    Column("unit", String(30)),
    Column("direction", String(10)),
    Column("params", JSON),
    Column("rounds", JSON),
    Column("summary", JSON),
    Column("flags", JSON),
    Column("threshold", String(10)),
    Index("results_series", "metric", "model", "config", "params_key", "run_id"),
)

tests = Table(
    "tests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("test", Text, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("message", Text),
)

ab_runs = Table(
    "ab_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_key", String(64), nullable=False, unique=True),
    Column("created_utc", DateTime, nullable=False),
    Column("status", String(30), nullable=False),
    Column("passed", Integer, nullable=False),
    Column("base", Text),
    Column("new", Text),
    Column("pairs", Integer),
    Column("gated", Integer),
    Column("failures", JSON),
    Column("report_path", Text),
    Column("stored_utc", DateTime, nullable=False),
)
