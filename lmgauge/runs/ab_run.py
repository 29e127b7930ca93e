"""Interleaved A/B runs on one machine: base and new alternate as A B B A A B B A ..., each run a
fresh pytest process writing its own run report, so that a slow spell of the machine falls on
both sides of a pair and the pair's ratio cancels it (asv continuous and pyperf do the same).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lmgauge.errors import LmgaugeError, ReportError, describe_signal
from lmgauge.record.recovery import recover_folder
from lmgauge.record.report import read_report
from lmgauge.runs.ab_sides import Side
from lmgauge.store.engine import NO_STORE_VARIABLE

OK_EXIT_STATUSES = (0, 1)
"""pytest exit statuses after which a run's report is used: passed, or some tests failed."""
NO_TESTS = 5
"""pytest's exit status when no test ran: usable for a run that repeats only timed tests."""


ERROR_LINE = re.compile(r"^(INTERNALERROR> .*\S|E {3}\S|(python -m )?pytest: error:|ERROR: |"
                        r"[A-Za-z_.]*(Error|Exception): )")  # fmt: skip
"""The lines that say why pytest stopped: an internal error, an exception's message (`E   ...`,
or a traceback's last line), a usage error. The last of them, rather than the log's last line
(a summary banner, `rootdir: ...`), goes into the sentence on a failed run."""


@dataclass
class RunRecord:
    """One pytest process of an A/B run: side label, pair index (0-based), its report (None
    when it wrote none), exit status, seconds of wall time, its log file."""

    side: str
    pair: int
    report: Path | None
    exit_status: int
    seconds: float
    log: Path
    timed_only: bool = False

    @property
    def usable(self) -> bool:
        """Whether the run wrote a report and ended in a way that lets it be judged."""
        usable = (*OK_EXIT_STATUSES, NO_TESTS) if self.timed_only else OK_EXIT_STATUSES
        return self.report is not None and self.exit_status in usable


def pair_order(pair: int) -> tuple[str, str]:
    """The sides of pair `pair` in the order they run: A B B A A B ... (pair 0 base first,
    pair 1 new first, and so on)."""
    return ("base", "new") if pair % 2 == 0 else ("new", "base")


def run_one(
    side: Side, pair: int, number: int, pytest_arguments: list[str], out: Path,
    timed_only: bool = False,
) -> RunRecord:  # fmt: skip
    """One fresh pytest process of `side`, its report in its own folder under `out`
    (`timed_only`: the arguments deselect the tests that record no timing)."""
    folder = out.resolve() / "runs" / f"{number:02d}-{side.label}"  # a git side runs elsewhere
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "pytest.log"
    started = time.perf_counter()
    with open(log, "w") as stream:
        status = subprocess.run(
            side.command(pytest_arguments, folder), cwd=side.folder, stdout=stream,
            stderr=subprocess.STDOUT, check=False,
            env={**os.environ, **side.environment, NO_STORE_VARIABLE: "1"},
        ).returncode  # fmt: skip
    seconds = time.perf_counter() - started
    recover_folder(folder)
    reports = sorted(folder.glob("*.json"))
    return RunRecord(
        side.label, pair, reports[-1] if reports else None, status, seconds, log, timed_only
    )


def describe_failure(record: RunRecord) -> str:
    """One sentence on a run whose report cannot be used."""
    lines = (
        record.log.read_text(errors="replace").strip().splitlines() if record.log.exists() else []
    )
    errors = [line for line in lines if ERROR_LINE.match(line)]
    last = (errors or lines or ["no output"])[-1].strip()
    if record.exit_status < 0:
        name = describe_signal(-record.exit_status)
        kept = f"; what it recorded is in {record.report}" if record.report else ""
        return f"the {record.side} run of pair {record.pair + 1} was killed by {name}{kept}"
    wrote = "" if record.report else " and wrote no report"
    return (
        f"the {record.side} run of pair {record.pair + 1} ended with pytest exit status "
        f"{record.exit_status}{wrote} ({last}); its log is {record.log}"
    )


def usable_pairs(records: list[RunRecord]) -> list[dict[str, RunRecord]]:
    """{"base": record, "new": record} of every pair whose two runs are usable, in pair
    order."""
    by_pair: dict[int, dict[str, RunRecord]] = {}
    for record in records:
        if record.usable:
            by_pair.setdefault(record.pair, {})[record.side] = record
    return [by_pair[pair] for pair in sorted(by_pair) if len(by_pair[pair]) == 2]


def complete_pairs(records: list[RunRecord]) -> tuple[list[dict], list[dict]]:
    """The base and new report documents of every pair whose two runs both wrote a report,
    in pair order."""
    try:
        pairs = [{side: read_report(record.report) for side, record in pair.items()}
                 for pair in usable_pairs(records)]  # fmt: skip
    except ReportError as error:
        raise LmgaugeError(str(error)) from None
    return [pair["base"] for pair in pairs], [pair["new"] for pair in pairs]
