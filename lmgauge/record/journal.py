"""The run journal: every event of a session appended to a JSON-lines file as it happens.

A session writes `<report>.journal.jsonl` beside the report it will write, one JSON object a
line, flushed at once, so a run killed by SIGKILL, the OOM killer or a CI timeout keeps every
result it recorded. At session end the report is assembled from the journal and the journal is
removed; a journal left behind is turned into a report with status `killed` by
`lmgauge recover DIR` and by the next run that writes to the same folder.

A live session holds an exclusive lock (fcntl.flock) on its journal from before the file
appears under its name until after its report is written and the journal removed, and recovery
holds the same lock while it reads, writes the report and removes a journal: so recovery never
takes the journal of a run that is still going, and two recoveries never take the same one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

SUFFIX = ".journal.jsonl"


class Journal:
    """An open, locked journal file. `append(event)` writes one line and flushes it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        self._stream = open(staging, "x", encoding="utf-8")  # noqa: SIM115 - held for the run
        fcntl.flock(self._stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            os.link(staging, self.path)  # appears locked; refuses to replace another journal
        except OSError:
            self._stream.close()
            raise
        finally:
            staging.unlink()

    def append(self, event: dict) -> None:
        self._stream.write(json.dumps(event, default=str) + "\n")
        self._stream.flush()

    def flush(self) -> None:
        if not self._stream.closed:
            self._stream.flush()

    def close(self, remove: bool = False) -> None:
        """Release the lock; with `remove`, delete the journal first (while still locked)."""
        if self._stream.closed:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        self._stream.close()


def read_events(path: Path) -> list[dict]:
    """The events of a journal in order. A last line cut short by a kill is dropped: one that
    begins as an event does ('{') and lacks the newline that ends every line written whole (see
    cut_short). Any other broken line raises ValueError naming the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text, so not a journal lmgauge wrote") from None
    lines = text.splitlines()
    events = []
    for number, line in enumerate(lines, start=1):
        try:
            events.append(json.loads(line))
        except ValueError:
            if number == len(lines) and cut_short(text):
                break
            raise ValueError(f"{path}: line {number} is not a JSON event") from None
    return events


def cut_short(text: str) -> bool:
    """Whether the journal's last line can be an event whose writing a kill cut short (or, after
    a crash of the machine, the zero bytes a file system can leave at the end of a file)."""
    last = text.rsplit("\n", 1)[-1]
    return bool(last) and (last.startswith("{") or not last.strip("\x00"))


def report_path_of(journal: Path) -> Path:
    """The report a journal belongs to: `x.journal.jsonl` -> `x.json`."""
    return journal.with_name(journal.name.removesuffix(SUFFIX) + ".json")


def journal_path_of(report: Path) -> Path:
    return report.with_name(report.stem + SUFFIX)


def abandoned_journals(folder: Path) -> list[Path]:
    """Journals in `folder` that no live session holds (their run was killed or crashed), as
    seen now; take one with `locked_abandoned` before acting on it."""
    found = []
    for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
        with locked_abandoned(path) as held:
            if held:
                found.append(path)
    return found


@contextlib.contextmanager
def locked_abandoned(path: Path) -> Iterator[bool]:
    """Hold the lock of the journal at `path` for the block; yields False (holding nothing)
    when a live session holds it or it is gone, True when it is abandoned and now ours."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        yield False
        return
    try:
        yield Path(path).exists()
    finally:
        os.close(descriptor)
