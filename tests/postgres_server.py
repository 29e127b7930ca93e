"""A PostgreSQL server of its own for a test session: initdb into a temporary folder, started
with pg_ctl on the loopback interface at a free port, stopped and removed at the end; a
watchdog in its own session stops and removes it too when the test process dies without its
teardown (SIGTERM, SIGKILL): pg_ctl detaches the server, so nothing else would.

Debian's postgresql package puts the binaries in /usr/lib/postgresql/<version>/bin; initdb
refuses to run as root, so as root the server runs as the `postgres` user."""

from __future__ import annotations

import glob
import os
import shlex
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
        self.watchdog: subprocess.Popen | None = None

    @property
    def prefix(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if self.as_postgres else []

    def stop_command(self) -> list[str]:
        return [*self.prefix, str(self.binaries / "pg_ctl"), "-D", str(self.folder / "data"),
                "-m", "fast", "-w", "stop"]  # fmt: skip

    def run(self, *command: str) -> None:
        subprocess.run([*self.prefix, *command], check=True, capture_output=True, text=True)

    def watch(self) -> None:
        """Stop and remove the server once this process is gone, whatever ended it."""
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                  f"{shlex.join(self.stop_command())}; rm -rf {shlex.quote(str(self.folder))}")
        self.watchdog = subprocess.Popen(
            ["sh", "-c", script], start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self) -> str:
        data = self.folder / "data"
        self.run(str(self.binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                 "-E", "UTF8", "--no-instructions")  # fmt: skip
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self.run(str(self.binaries / "pg_ctl"), "-D", str(data), "-o", options,
                 "-l", str(self.folder / "log"), "-w", "start")  # fmt: skip
        self.watch()
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
        try:
            subprocess.run(self.stop_command(), check=True, capture_output=True, text=True)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
