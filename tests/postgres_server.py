"""A PostgreSQL server of its own for a test session: initdb into a temporary folder, started
with pg_ctl on the loopback interface at a free port, stopped and removed at the end.

Debian's postgresql package puts the binaries in /usr/lib/postgresql/<version>/bin; initdb
refuses to run as root, so as root the server runs as the `postgres` user."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "lmgauge"


def server_binaries() -> Path | None:
    """The newest PostgreSQL bin folder holding initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: p.split("/")[4])
    on_path = shutil.which("initdb")
    if found:
        return Path(found[-1]).parent
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="lmgauge-pg-"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")

    def run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True)

    def start(self) -> str:
        data = self.folder / "data"
        self.run(str(self.binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                 "-E", "UTF8", "--no-instructions")  # fmt: skip
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self.run(str(self.binaries / "pg_ctl"), "-D", str(data), "-o", options,
                 "-l", str(self.folder / "log"), "-w", "start")  # fmt: skip
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self.run(str(self.binaries / "pg_ctl"), "-D", str(self.folder / "data"),
                     "-m", "fast", "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
