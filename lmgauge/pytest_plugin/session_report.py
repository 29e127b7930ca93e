"""The run report of a bench session: the journal opened before the first bench, every
outcome collected, the report written at the end (by lmgauge.runs.session_end, which needs no
pytest), and the terminal lines that point to it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from lmgauge.errors import LmgaugeError
from lmgauge.measure import environment
from lmgauge.pytest_plugin.skips import MEASURED_SKIP
from lmgauge.pytest_plugin.state import RUN_STATE, is_bench, run_state, running_no_test
from lmgauge.record.journal import Journal, journal_path_of
from lmgauge.record.recording import RunRecorder
from lmgauge.record.recovery import (
    RecoveryError,
    check_writable,
    recover_folder,
    unique_report_path,
)
from lmgauge.render.summary import threshold_line
from lmgauge.runs.session_end import finish


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """After the options resolved (lmgauge.pytest_plugin.options): collect every outcome."""
    if RUN_STATE in config.stash:
        config.pluginmanager.register(
            OutcomeCollector(run_state(config).recorder), "lmgauge-outcomes"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With benches to run: recover killed runs' journals, then open this run's journal, so
    that an unwritable report folder stops the run (one sentence) before any model loads."""
    state = run_state(config)
    state.bench_items = sum(1 for item in items if is_bench(item))
    if not state.bench_items or running_no_test(config):
        return
    try:
        check_writable(state.report_dir)
        state.recovered = recover_journals(state)
        name = config.getoption("benchmark_save", None)
        path = unique_report_path(state.report_dir, state.recorder.started, name)
        state.recorder.journal = Journal(journal_path_of(path))
    except LmgaugeError as error:
        raise pytest.UsageError(str(error)) from None
    state.report_path = path
    state.recorder.start(
        environment.environment(config.rootpath),
        name=name,
        load_average_start=environment.load_average(),
    )


def recover_journals(state) -> list[Path]:
    """The reports made from the killed runs' journals in the report folder; a journal that
    cannot be recovered is kept and named at the end of the session (`unrecovered`), and does
    not stop this run, which writes a report of its own."""
    try:
        return recover_folder(state.report_dir)
    except RecoveryError as error:
        state.unrecovered = error.problems
        return error.made


class OutcomeCollector:
    """Hands every test's outcome (and a skip's or failure's message) to the recorder, and
    remembers the exit status that a Ctrl-C or pytest.exit() stands for (`stopped_with`): when
    a keyboard-interrupt hook crashes, pytest hands session-finish exit status 0, and the run
    would be reported as passed. A run stopped with pytest.exit(returncode=0) did not run its
    selection either (pytest exits 0 then even after a failed test): it is interrupted."""

    def __init__(self, recorder: RunRecorder):
        self.recorder = recorder
        self.stopped_with: int | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo) -> None:
        returncode = getattr(excinfo.value, "returncode", None)  # pytest.exit(returncode=...)
        self.stopped_with = pytest.ExitCode.INTERRUPTED if returncode is None else returncode

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and report.passed:
            return
        message = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            message = report.longrepr[2]
        elif report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash else report.longreprtext.strip().splitlines()[-1]
        measured = report.skipped and MEASURED_SKIP in report.user_properties
        self.recorder.outcome(report.nodeid, report.outcome, report.when, message, measured)


EXITS_A_FAILED_GATE_TURNS_TO_1 = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
"""Exit statuses a failed gate replaces with 1: a pass, and "no tests", which CI scripts often
let pass."""


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the report (lmgauge.runs.session_end); a failed gate fails the session. Runs
    last: after a Ctrl-C, pytest tears the session's fixtures down in its own session-finish
    hook, and what those teardowns record (the interrupted bench's noise reading, a model
    released) must reach the journal before it is closed."""
    config = session.config
    if RUN_STATE not in config.stash or running_no_test(config):
        return
    state = run_state(config)
    journal = state.recorder.journal
    if not state.bench_items and state.gate_base is not None:
        state.gate_message = (f"lmgauge gate: FAILED (--gate {state.gate_base[0]} was given, but "
                              "no bench ran in this session, so nothing was judged)")  # fmt: skip
        if session.exitstatus in EXITS_A_FAILED_GATE_TURNS_TO_1:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not state.bench_items or journal is None:
        return
    journal.flush()
    collector = config.pluginmanager.get_plugin("lmgauge-outcomes")
    if exitstatus == 0 and collector is not None and collector.stopped_with is not None:
        exitstatus = session.exitstatus = collector.stopped_with or pytest.ExitCode.INTERRUPTED
    extra_run = {
        "load_average_end": environment.load_average(),
        "duration_s": round(state.recorder.elapsed_now(), 3),
        "benchmark_json": saved_benchmark_json(config, state.recorder.run_facts.get("name")),
    }
    finished = finish(
        journal, state.report_path, int(exitstatus), extra_run, state.gate_base, state.store_url
    )
    journal.close(remove=finished.report is not None)
    state.report_path, state.write_failure = finished.report, finished.failure
    state.store_message = finished.stored
    if finished.gate is not None:
        state.gate_message = finished.gate.message()
        if not finished.gate.passed and session.exitstatus in EXITS_A_FAILED_GATE_TURNS_TO_1:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def saved_benchmark_json(config: pytest.Config, name: str | None) -> str | None:
    """The file pytest-benchmark saved for this run with --benchmark-save (it saves before
    this plugin's session-finish hook runs), as an absolute path; None when nothing was saved."""
    session = getattr(config, "_benchmarksession", None)
    if not name or session is None or not session.benchmarks:
        return None
    saved = sorted(session.storage.query(f"*_{name}.json"), key=lambda p: Path(p).name)
    return str(Path(saved[-1]).resolve()) if saved else None


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if RUN_STATE not in config.stash:
        return
    state = run_state(config)
    for recovered in state.recovered or []:
        terminalreporter.write_line(f"lmgauge: a killed run's journal became {recovered}")
    for problem in state.unrecovered:
        terminalreporter.write_line(f"lmgauge: a killed run's journal was not recovered: {problem}")
    if state.write_failure:
        terminalreporter.write_line(state.write_failure)
    if state.report_path is not None and state.bench_items:
        results = len(state.recorder.results)
        terminalreporter.write_sep("-", "lmgauge")
        terminalreporter.write_line(
            f"lmgauge report: {state.report_path} ({results} results, "
            f"{len(state.recorder.models)} models, threads={state.threads})"
        )
        thresholds = threshold_line([asdict(result) for result in state.recorder.results])
        if thresholds:
            terminalreporter.write_line(f"lmgauge {thresholds}")
    if state.store_message:
        terminalreporter.write_line(state.store_message)
    if state.gate_message:
        terminalreporter.write_line(state.gate_message)
