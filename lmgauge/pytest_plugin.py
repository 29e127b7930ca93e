"""lmgauge's pytest plugin: command-line options, the `record` fixture, and the run report.

This is the only module of the library that imports pytest. It is registered by the project's
conftest.py (`pytest_plugins`), not as an entry point, so it never loads into other projects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from lmgauge import machine, models, runtime
from lmgauge.data import EMBEDDED_DATASET
from lmgauge.errors import LmgaugeError
from lmgauge.journal import Journal, journal_path_of
from lmgauge.measure.noise import NoiseMonitor
from lmgauge.measure.rounds import RoundPolicy
from lmgauge.recording import RunRecorder
from lmgauge.recovery import check_writable, recover_folder, unique_report_path
from lmgauge.report import read_report
from lmgauge.session_end import finish


@dataclass
class RunState:
    """What the options resolved to, and the recorder of this session."""

    specs: dict[str, models.ModelSpec]
    device: object
    dtype: object
    threads: int
    dataset: str
    round_policy: RoundPolicy
    report_dir: Path
    recorder: RunRecorder
    gate_base: tuple[str, dict] | None = None
    slowdown: float = 0.0
    bench_items: int = 0
    report_path: Path | None = None
    gate_message: str | None = None
    recovered: list[Path] | None = None
    write_failure: str | None = None


RUN_STATE = pytest.StashKey[RunState]()
NOISE_MONITOR = pytest.StashKey[NoiseMonitor]()


def run_state(config: pytest.Config) -> RunState:
    return config.stash[RUN_STATE]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lmgauge", "lmgauge benchmark options")
    group.addoption(
        "--models",
        default=",".join(models.DEFAULT_MODELS),
        help="comma-separated models: registered names (`lmgauge models`), hf:HUB_ID, "
        "or paths to model folders or .gguf files (default: %(default)s)",
    )
    group.addoption(
        "--device",
        default="auto",
        help="where models run: cpu, cuda, cuda:N, or auto (cuda when available)",
    )
    group.addoption(
        "--dtype",
        default="float32",
        choices=runtime.DTYPES,
        help="dtype the weights are loaded in (default: float32)",
    )
    group.addoption(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: physical cores); recorded in the report",
    )
    group.addoption(
        "--dataset",
        default=EMBEDDED_DATASET,
        help="text/label data set: the embedded Pang & Lee sentences (default) or a "
        "Hugging Face Hub data set name such as rotten_tomatoes",
    )
    group.addoption(
        "--rounds",
        type=int,
        default=RoundPolicy.min_rounds,
        help="fewest timed rounds of each latency measurement, after one untimed warmup call; "
        "more run until the median's 95 %% interval is narrow enough or --round-budget is "
        "spent (default: %(default)s)",
    )
    group.addoption(
        "--round-budget",
        type=float,
        default=RoundPolicy.budget_s,
        metavar="SECONDS",
        help="time one latency measurement may spend on rounds beyond --rounds "
        "(default: %(default)s s)",
    )
    group.addoption(
        "--inject-slowdown",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="validation aid: make every forward pass of every model this fraction slower "
        "(busy-wait); recorded in the report. Used by `lmgauge gate-check`",
    )
    group.addoption(
        "--gate",
        default=None,
        metavar="BASE",
        help="compare this run with the run report BASE at the end and exit non-zero when a "
        "gated figure got worse (rules: lmgauge/gate.toml)",
    )
    group.addoption(
        "--report-dir",
        default=None,
        help="folder for lmgauge's JSON run report (default: reports/ in the project)",
    )


def pytest_configure(config: pytest.Config) -> None:
    options = config.option
    try:
        specs = models.resolve_many(options.models)
        device = runtime.resolve_device(options.device)
        dtype = runtime.resolve_dtype(options.dtype)
        threads = runtime.set_threads(
            runtime.default_threads() if options.threads is None else options.threads
        )
        policy = RoundPolicy(min_rounds=options.rounds, budget_s=options.round_budget)
        if not 0 <= options.inject_slowdown <= 10:
            raise ValueError(
                f"--inject-slowdown must be a fraction from 0 to 10, got {options.inject_slowdown}."
            )
        gate_base = (options.gate, read_report(options.gate)) if options.gate else None
        report_dir = Path(options.report_dir) if options.report_dir else config.rootpath / "reports"
    except (LmgaugeError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    run_options = {
        "models": [spec.name for spec in specs],
        "device": str(device),
        "dtype": options.dtype,
        "threads": threads,
        "dataset": options.dataset,
        "rounds": options.rounds,
        "round_budget_s": options.round_budget,
    }
    if options.inject_slowdown:
        run_options["inject_slowdown"] = options.inject_slowdown
    config.stash[RUN_STATE] = RunState(
        specs={spec.name: spec for spec in specs},
        device=device,
        dtype=dtype,
        threads=threads,
        dataset=options.dataset,
        round_policy=policy,
        report_dir=report_dir,
        recorder=RunRecorder(run_options),
        gate_base=gate_base,
        slowdown=options.inject_slowdown,
    )
    config.pluginmanager.register(
        OutcomeCollector(config.stash[RUN_STATE].recorder), "lmgauge-outcomes"
    )


def is_bench(item: pytest.Item) -> bool:
    return item.path.name.startswith("bench_")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With benches to run: recover killed runs' journals, then open this run's journal, so
    that an unwritable report folder stops the run (one sentence) before any model loads."""
    state = run_state(config)
    state.bench_items = sum(1 for item in items if is_bench(item))
    if not state.bench_items or config.option.collectonly:
        return
    try:
        check_writable(state.report_dir)
        state.recovered = recover_folder(state.report_dir)
        name = config.getoption("benchmark_save", None)
        path = unique_report_path(state.report_dir, state.recorder.started, name)
        state.recorder.journal = Journal(journal_path_of(path))
    except LmgaugeError as error:
        raise pytest.UsageError(str(error)) from None
    state.report_path = path
    state.recorder.start(
        machine.environment(config.rootpath),
        name=name,
        load_average_start=machine.load_average(),
    )


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """`record(metric, value=None, samples=(), **params)`: add one figure to the run report.

    `value` defaults to the median of the rounds. Keyword arguments `rounds` (one value per
    timed round, when samples are not one per round), `probe_seconds` and `stopped` go to
    RunRecorder.record; every other keyword is a parameter of the figure.

    The bench is named after the module (bench_params.py -> "params") and the model after the
    test's `model_name` parameter; unit and direction come from lmgauge.metrics.
    """
    recorder = run_state(request.config).recorder
    bench, model = bench_and_model(request.node)

    def add(metric: str, value=None, samples=(), **params):
        return recorder.record(
            bench, model, metric, value, test=request.node.nodeid, samples=samples, **params
        )

    return add


@pytest.fixture
def record_text(request: pytest.FixtureRequest):
    """`record_text(table, text, **params)`: add a generated text to a table written beside the
    run report (`<report>.<table>.csv` and `.md`, models side by side)."""
    recorder = run_state(request.config).recorder
    bench, model = bench_and_model(request.node)

    def add(table: str, text: str, **params) -> None:
        recorder.add_text(bench, model, table, text, test=request.node.nodeid, **params)

    return add


def bench_and_model(node: pytest.Item) -> tuple[str, str]:
    """The bench (bench_params.py -> "params") and the test's `model_name` parameter."""
    callspec = getattr(node, "callspec", None)
    model = callspec.params.get("model_name", "") if callspec else ""
    return node.path.stem.removeprefix("bench_"), model


@pytest.fixture(scope="session")
def rounds(request: pytest.FixtureRequest) -> int:
    """Fewest timed rounds per measurement (--rounds), after one untimed warmup call."""
    return run_state(request.config).round_policy.min_rounds


@pytest.fixture(scope="session")
def round_policy(request: pytest.FixtureRequest) -> RoundPolicy:
    """How many timed rounds a latency measurement takes (lmgauge.measure.rounds)."""
    return run_state(request.config).round_policy


@pytest.fixture
def judge_timing(request: pytest.FixtureRequest):
    """`judge_timing(ok, message)`: fail with `message` when a timing-based check is false,
    unless the machine was busy (during this bench or during calibration), in which case the
    check is skipped as not judgeable: a loaded machine proves nothing either way."""

    def judge(ok: bool, message: str) -> None:
        if ok:
            return
        reading = request.node.stash[NOISE_MONITOR].stop()
        calibration = run_state(request.config).recorder.calibration or {}
        calibration_busy = calibration.get("noise", {}).get("busy", False)
        if reading.busy or calibration_busy:
            pytest.skip(
                f"not judged on a busy machine ({reading.foreign_cores:.2f} cores used by other "
                f"processes; calibration busy: {calibration_busy}): {message}"
            )
        pytest.fail(message, pytrace=False)

    return judge


@pytest.fixture(autouse=True)
def _watch_noise(request: pytest.FixtureRequest):
    """Around every bench: note load averages and other processes' CPU use; flag busy results."""
    if not is_bench(request.node):
        yield
        return
    recorder = run_state(request.config).recorder
    monitor = NoiseMonitor()
    monitor.start()
    request.node.stash[NOISE_MONITOR] = monitor
    yield
    reading = monitor.stop()
    recorder.noise_reading({"test": request.node.nodeid, **asdict(reading), "busy": reading.busy})
    if reading.busy:
        recorder.flag_test(request.node.nodeid, "busy")


class OutcomeCollector:
    """Hands every test's outcome (and a skip's or failure's message) to the recorder."""

    def __init__(self, recorder: RunRecorder):
        self.recorder = recorder

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and report.passed:
            return
        message = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            message = report.longrepr[2]
        elif report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash else report.longreprtext.strip().splitlines()[-1]
        self.recorder.outcome(report.nodeid, report.outcome, report.when, message)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the report (lmgauge.session_end); a failed gate fails the session."""
    config = session.config
    if RUN_STATE not in config.stash or config.option.collectonly:
        return
    state = run_state(config)
    journal = state.recorder.journal
    if not state.bench_items or journal is None:
        return
    journal.close()
    extra_run = {
        "load_average_end": machine.load_average(),
        "duration_s": round(state.recorder.elapsed_now(), 3),
        "benchmark_json": saved_benchmark_json(config, state.recorder.run_facts.get("name")),
    }
    finished = finish(journal, state.report_path, int(exitstatus), extra_run, state.gate_base)
    state.report_path, state.write_failure = finished.report, finished.failure
    if finished.gate is not None:
        state.gate_message = finished.gate.message()
        if not finished.gate.passed and session.exitstatus == 0:
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
    if state.write_failure:
        terminalreporter.write_line(state.write_failure)
    if state.report_path is not None and state.bench_items:
        results = len(state.recorder.results)
        terminalreporter.write_sep("-", "lmgauge")
        terminalreporter.write_line(
            f"lmgauge report: {state.report_path} ({results} results, "
            f"{len(state.recorder.models)} models, threads={state.threads})"
        )
    if state.gate_message:
        terminalreporter.write_line(state.gate_message)
