"""The run journal: every event of a session appended to a JSON-lines file as it happens.

A session writes `<report>.journal.jsonl` beside the report it will write, one JSON object a
line, flushed at once, so a run killed by SIGKILL, the OOM killer or a CI timeout keeps every
result it recorded. At session end the report is assembled from the journal and the journal is
removed; a journal left behind is turned into a report with status `killed` by
`lmgauge recover DIR` and by the next run that writes to the same folder.

A live session holds an exclusive lock (fcntl.flock) on its journal, so recovery never takes
the journal of a run that is still going.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

SUFFIX = ".journal.jsonl"


class Journal:
    """An open, locked journal file. `append(event)` writes one line and flushes it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path, "x", encoding="utf-8")  # noqa: SIM115 - held for the run
        fcntl.flock(self._stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def append(self, event: dict) -> None:
        self._stream.write(json.dumps(event, default=str) + "\n")
        self._stream.flush()

    def close(self, remove: bool = False) -> None:
        if self._stream.closed:
            return
        self._stream.close()
        if remove:
            self.path.unlink(missing_ok=True)


def read_events(path: Path) -> list[dict]:
    """The events of a journal in order. A last line cut short by a kill is dropped; a broken
    line elsewhere raises ValueError naming the line."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    events = []
    for number, line in enumerate(lines, start=1):
        try:
            events.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                break
            raise ValueError(f"{path}: line {number} is not a JSON event") from None
    return events


def report_path_of(journal: Path) -> Path:
    """The report a journal belongs to: `x.journal.jsonl` -> `x.json`."""
    return journal.with_name(journal.name.removesuffix(SUFFIX) + ".json")


def journal_path_of(report: Path) -> Path:
    return report.with_name(report.stem + SUFFIX)


def abandoned_journals(folder: Path) -> list[Path]:
    """Journals in `folder` that no live session holds (their run was killed or crashed)."""
    found = []
    for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue
        finally:
            os.close(descriptor)
        found.append(path)
    return found
