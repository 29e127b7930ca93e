"""Opening a store by URL: SQLite by default, PostgreSQL (or any SQLAlchemy URL) for a team.

Every failure to reach or read a store is one sentence (StoreError). A database whose schema is
newer than this lmgauge's is refused, never written to.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from lmgauge.errors import LmgaugeError, first_line
from lmgauge.store.schema import SCHEMA_VERSION, metadata, schema_version

STORE_VARIABLE = "LMGAUGE_STORE"
NO_STORE_VARIABLE = "LMGAUGE_NO_STORE"
"""Set by `lmgauge ab` for its side runs: the A/B verdict is stored, not each repeated run."""
DEFAULT_FILE = "lmgauge.db"
SQLITE_BUSY_TIMEOUT_S = 60
EXAMPLES = "e.g. sqlite:///reports/lmgauge.db or postgresql://user@host/db"


class StoreError(LmgaugeError):
    """A store that cannot be reached, read or written, in one sentence."""


def default_url(report_dir: Path) -> str:
    """$LMGAUGE_STORE, else the SQLite file `lmgauge.db` in `report_dir`."""
    return os.environ.get(STORE_VARIABLE) or f"sqlite:///{Path(report_dir) / DEFAULT_FILE}"


def checked_url(url: str) -> str:
    """`url` when it parses as a database URL; StoreError in one sentence otherwise (nothing is
    opened: a bench session connects only at its end)."""
    try:
        make_url(url)
    except ArgumentError:
        raise StoreError(f"--store '{url}' is not a database URL ({EXAMPLES}).") from None
    return url


def shown(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def open_store(url: str, create: bool = True) -> Engine:
    """An engine on the store at `url` with its tables in place (created when `create` and
    absent); StoreError when it cannot be reached or has a newer schema."""
    try:
        engine = make_engine(url, create)
        with engine.begin() as connection:
            version = stored_version(connection)
            if version is None and create:
                metadata.create_all(connection)
                connection.execute(schema_version.insert().values(version=SCHEMA_VERSION))
                version = SCHEMA_VERSION
            elif version == SCHEMA_VERSION:
                metadata.create_all(connection)  # tables this version gained later, if any
    except ArgumentError:
        raise StoreError(f"'{url}' is not a database URL ({EXAMPLES}).") from None
    except ImportError as error:  # a dialect whose driver is not installed (mysql://...)
        driver = error.name or first_line(error, 120)
        raise StoreError(f"cannot open the store {shown(url)}: its database driver ({driver}) "
                         "is not installed (SQLite needs none; PostgreSQL needs the "
                         "lmgauge[postgresql] extra).") from None  # fmt: skip
    except SQLAlchemyError as error:
        raise StoreError(
            f"cannot open the store {shown(url)}: {first_line(error.orig or error, 200)}"
        ) from None
    except OSError as error:
        raise StoreError(f"cannot open the store {shown(url)}: {error.strerror}.") from None
    check_version(url, version)
    return engine


def stored_version(connection) -> int | None:
    """The store's schema version, read before anything is created or changed (a newer store
    is refused untouched); None when it has no version table or no version yet."""
    if not inspect(connection).has_table(schema_version.name):
        return None
    return connection.execute(select(schema_version.c.version)).scalar()


def check_version(url: str, version: int | None) -> None:
    if version is None:
        raise StoreError(f"{shown(url)} holds no lmgauge store (no lmgauge_schema table).")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store {shown(url)} has schema version {version}, newer than this lmgauge's "
            f"{SCHEMA_VERSION}; upgrade lmgauge to read or write it."
        )


def make_engine(url: str, create: bool) -> Engine:
    parsed = make_url(url)
    if (
        parsed.drivername == "postgresql"
    ):  # SQLAlchemy's default driver is psycopg2; we ship psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    database = Path(parsed.database or "")
    if parsed.database and not database.exists():
        if not create:
            raise StoreError(f"no store at {database} (run a bench first, or give --store URL).")
        database.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", sqlite_pragmas)
    return engine


def sqlite_pragmas(connection, _record) -> None:
    """WAL lets readers work while one process writes; foreign keys are off by default."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
