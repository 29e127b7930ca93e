"""Where a run's report goes, whether it can be written there, and turning the journals of
killed runs into reports (status `killed`, every result recorded before the kill)."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from lmgauge.errors import LmgaugeError, ReportError
from lmgauge.record.journal import (
    SUFFIX,
    abandoned_journals,
    locked_abandoned,
    read_events,
    report_path_of,
)
from lmgauge.record.outcomes import KILLED
from lmgauge.record.recording import RunRecorder
from lmgauge.record.report import (
    read_report,
    report_filename,
    validate,
    write_atomic,
)


def check_writable(folder: Path) -> None:
    """LmgaugeError in one sentence when run reports cannot be written into `folder`."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise LmgaugeError(
            f"cannot write run reports to {folder} ({error.strerror}); choose a writable folder "
            f"with --report-dir."
        ) from None


def unique_report_path(folder: Path, started: datetime, name: str | None) -> Path:
    """`folder/<UTC time>_<name>.json`, with -2, -3 ... added when that report or its journal
    already exists (two runs of the same name in the same second)."""
    first = Path(folder) / report_filename(started, name)
    path, number = first, 1
    while path.exists() or path.with_name(path.stem + SUFFIX).exists():
        number += 1
        path = first.with_name(f"{first.stem}-{number}.json")
    return path


def recover_journal(journal: Path) -> Path | None:
    """Write the report of an abandoned journal (status `killed`) and remove the journal, all
    while holding its lock. Returns the report's path, or None when there was nothing to
    recover (a journal a live session holds, or that another recovery took; an empty journal;
    one whose run had written its report before it died)."""
    with locked_abandoned(journal) as held:
        return _recover_held(journal) if held else None


def _recover_held(journal: Path) -> Path | None:
    report = report_path_of(journal)
    try:
        events = read_events(journal)
    except ValueError as error:
        raise LmgaugeError(f"{error}; the journal is left as it is.") from None
    if not events:
        journal.unlink()
        return None
    state = report_state(report)
    if state == WHOLE:
        made = read_report(report)["created_utc"]
        started = events[0].get("started") if isinstance(events[0], dict) else None
        if made != started:
            raise LmgaugeError(
                f"{journal} (a run started {started}) sits beside the report of another run "
                f"(made {made}): both are left as they are; move the report away to recover "
                "the journal."
            )
        journal.unlink()  # the run wrote its report before it died
        return None
    if state not in (MISSING, BROKEN):
        raise LmgaugeError(
            f"{journal} sits beside its report, which this lmgauge does not read ({state}); "
            "both are left as they are: move the report away to recover the journal over it."
        )
    try:
        recorder = RunRecorder.replay(events)
        document = validate(
            recorder.document(KILLED, None, {"journal": journal.name, "gate": None}), journal)
    except (ValueError, ReportError) as error:
        raise LmgaugeError(f"{error}; the journal is left as it is.") from None
    except (KeyError, TypeError, AttributeError) as error:  # events that replayed, half-made
        raise LmgaugeError(f"{journal}: its events do not make a report ({type(error).__name__}: "
                           f"{error}); the journal is left as it is.") from None  # fmt: skip
    if state == BROKEN:
        set_aside(report, journal)
    write_atomic(document, report)
    os.unlink(journal)
    return report


MISSING, WHOLE, BROKEN = "missing", "whole", "broken"
"""report_state's answers besides a problem sentence."""


def report_state(report: Path) -> str:
    """MISSING; WHOLE when it reads as a report; BROKEN when it is empty, not UTF-8 text or
    not JSON (a disk that filled, a truncating copy: the journal, which holds every result,
    may replace it); otherwise why this lmgauge does not read it (JSON of a newer lmgauge, an
    edit, a file it may not read), and it must not be replaced."""
    try:
        text = report.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return MISSING
    except ValueError:
        return BROKEN
    except OSError as error:
        return f"cannot read it: {error.strerror}"
    if not text.strip():
        return BROKEN
    try:
        json.loads(text)
    except ValueError:
        return BROKEN
    try:
        read_report(report)
    except ReportError as error:
        return str(error)
    return WHOLE


def set_aside(report: Path, journal: Path) -> Path:
    """Move a broken report to <report>.broken (-2, -3 ... when that exists), to be looked at;
    LmgaugeError when it cannot be moved."""
    broken = report.with_name(report.name + ".broken")
    number = 1
    while broken.exists():
        number += 1
        broken = report.with_name(f"{report.name}.broken-{number}")
    try:
        os.replace(report, broken)
    except OSError as error:
        raise LmgaugeError(f"cannot move the broken report {report} aside ({error.strerror}); "
                           f"the journal {journal.name} is left as it is.") from None
    return broken


class RecoveryError(LmgaugeError):
    """Some journals of a folder could not be recovered (each said why in `problems`); `made`:
    the reports the others became."""

    def __init__(self, problems: list[str], made: list[Path]):
        super().__init__(" ".join(problems))
        self.problems, self.made = problems, made


def recover_folder(folder: Path) -> list[Path]:
    """Reports made from every abandoned journal in `folder`; RecoveryError, once every journal
    was tried, when some could not be recovered."""
    if not Path(folder).is_dir():
        return []
    made, problems = [], []
    for journal in abandoned_journals(folder):
        try:
            path = recover_journal(journal)
        except LmgaugeError as error:
            problems.append(str(error))
            continue
        if path is not None:
            made.append(path)
    if problems:
        raise RecoveryError(problems, made)
    return made
