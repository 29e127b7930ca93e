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
from lmgauge.gate import gate_summary, run_gate
from lmgauge.measure.noise import NoiseMonitor
from lmgauge.recording import RunRecorder
from lmgauge.report import read_report, report_filename, write_atomic, write_text_atomic
from lmgauge.summary import summary_markdown
from lmgauge.text_tables import write_text_tables


@dataclass
class RunState:
    """What the options resolved to, and the recorder of this session."""

    specs: dict[str, models.ModelSpec]
    device: object
    dtype: object
    threads: int
    dataset: str
    rounds: int
    report_dir: Path
    recorder: RunRecorder
    load_average_start: list | None
    gate_base: tuple[str, dict] | None = None
    bench_items: int = 0
    report_path: Path | None = None
    gate_message: str | None = None


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
        choices=runtime.DEVICES,
        help="where models run: cpu, cuda, or auto (cuda when available)",
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
        default=3,
        help="timed rounds of each latency measurement, after one untimed cold call (default: 3)",
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
        if options.rounds < 1:
            raise ValueError(f"--rounds must be at least 1, got {options.rounds}.")
        gate_base = (options.gate, read_report(options.gate)) if options.gate else None
    except (LmgaugeError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    report_dir = Path(options.report_dir) if options.report_dir else config.rootpath / "reports"
    recorder = RunRecorder(
        {
            "models": [spec.name for spec in specs],
            "device": str(device),
            "dtype": options.dtype,
            "threads": threads,
            "dataset": options.dataset,
        }
    )
    config.stash[RUN_STATE] = RunState(
        specs={spec.name: spec for spec in specs},
        device=device,
        dtype=dtype,
        threads=threads,
        dataset=options.dataset,
        rounds=options.rounds,
        report_dir=report_dir,
        recorder=recorder,
        load_average_start=machine.load_average(),
        gate_base=gate_base,
    )
    config.pluginmanager.register(OutcomeCollector(recorder), "lmgauge-outcomes")


def is_bench(item: pytest.Item) -> bool:
    return item.path.name.startswith("bench_")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_state(config).bench_items = sum(1 for item in items if is_bench(item))


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """`record(metric, value=None, samples=(), **params)`: add one figure to the run report.

    `value` defaults to the median of `samples`.

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
    """Timed rounds per latency measurement (--rounds), after one untimed cold call."""
    return run_state(request.config).rounds


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
    recorder.noise.append({"test": request.node.nodeid, **asdict(reading), "busy": reading.busy})
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
    """Write the report, its text tables and Markdown summary; judge the gate when asked."""
    config = session.config
    if RUN_STATE not in config.stash or config.option.collectonly:
        return
    state = run_state(config)
    if not state.bench_items:
        return
    name = config.getoption("benchmark_save", None)
    path = state.report_dir / report_filename(state.recorder.started, name)
    tables = write_text_tables(state.recorder.texts, path)
    status = {0: "passed", 1: "failed", 2: "interrupted"}.get(int(exitstatus), "error")
    document = state.recorder.document(
        environment=machine.environment(config.rootpath),
        status=status,
        exit_status=int(exitstatus),
        extra_run={
            "name": name,
            "load_average_start": state.load_average_start,
            "load_average_end": machine.load_average(),
            "text_tables": [table.name for table in tables],
            "summary": summary_path(path).name,
            "benchmark_json": saved_benchmark_json(config, name),
            "gate": None,
        },
    )
    if state.gate_base is not None:
        base_path, base = state.gate_base
        result = run_gate(base, document, base_name=base_path, new_name=path.name)
        document["run"]["gate"] = gate_summary(result, base_path)
        state.gate_message = result.message()
        if not result.passed and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    write_text_atomic(summary_markdown(document, path.name), summary_path(path))
    state.report_path = write_atomic(document, path)


def summary_path(report_path: Path) -> Path:
    return report_path.with_suffix(".md")


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
    if state.report_path is not None:
        results = len(state.recorder.results)
        terminalreporter.write_sep("-", "lmgauge")
        terminalreporter.write_line(
            f"lmgauge report: {state.report_path} ({results} results, "
            f"{len(state.recorder.models)} models, threads={state.threads})"
        )
    if state.gate_message:
        terminalreporter.write_line(state.gate_message)
