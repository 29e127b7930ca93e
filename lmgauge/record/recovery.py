"""Where a run's report goes, whether it can be written there, and turning the journals of
killed runs into reports (status `killed`, every result recorded before the kill)."""

from __future__ import annotations

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
from lmgauge.record.recording import RunRecorder
from lmgauge.record.report import (
    read_json_object,
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
    if not events or readable(report):
        journal.unlink()
        return None
    if report.exists():
        set_aside(report, journal)
    try:
        recorder = RunRecorder.replay(events)
        document = validate(
            recorder.document("killed", None, {"journal": journal.name, "gate": None}),
            journal)
    except (ValueError, ReportError) as error:
        raise LmgaugeError(f"{journal}: {error}; the journal is left as it is.") from None
    except (KeyError, TypeError, AttributeError) as error:  # events that replayed, half-made
        raise LmgaugeError(f"{journal}: its events do not make a report ({type(error).__name__}: "
                           f"{error}); the journal is left as it is.") from None  # fmt: skip
    write_atomic(document, report)
    os.unlink(journal)
    return report


def readable(report: Path) -> bool:
    """Whether the run's report was written whole and reads as a report."""
    try:
        read_report(report)
    except ReportError:
        return False
    return True


def set_aside(report: Path, journal: Path) -> None:
    """Move a report beside its journal that is empty or not JSON (a disk that filled, a
    truncating copy) to <report>.broken, so that the report made from the journal, which holds
    every result, takes its place and the broken file stays to be looked at. LmgaugeError,
    leaving both, when it is JSON that this lmgauge does not read as a report (a newer
    lmgauge's, or an edited one): the journal's report might hold less than it."""
    try:
        read_json_object(report)
    except ReportError:
        broken = report.with_name(report.name + ".broken")
        try:
            os.replace(report, broken)
        except OSError as error:
            raise LmgaugeError(f"cannot move the broken report {report} aside ({error.strerror}); "
                               f"the journal {journal.name} is left as it is.") from None
        return
    try:
        read_report(report)
    except ReportError as error:
        raise LmgaugeError(
            f"{journal} sits beside its report, which this lmgauge does not read ({error}); "
            "both are left as they are: move the report away to recover the journal over it."
        ) from None


def recover_folder(folder: Path) -> list[Path]:
    """Reports made from every abandoned journal in `folder`."""
    if not Path(folder).is_dir():
        return []
    made = [recover_journal(journal) for journal in abandoned_journals(folder)]
    return [path for path in made if path is not None]
