"""The lmgauge command-line options, and how they resolve into the session's RunState."""

from __future__ import annotations

import math
import os
from fnmatch import fnmatch
from pathlib import Path

import pytest

from lmgauge import compute
from lmgauge.errors import LmgaugeError
from lmgauge.judge.compare import MIN_GATED_ROUNDS
from lmgauge.judge.gate import DEFAULT_RULES
from lmgauge.judge.gate_rules import load_gate_rules, round_width
from lmgauge.judge.run_folder import read_baseline
from lmgauge.measure.rounds import RoundPolicy
from lmgauge.pytest_plugin.state import (
    RUN_STATE,
    RunState,
    ServingOptions,
    Subject,
    running_no_test,
)
from lmgauge.pytest_plugin.sweeps import (
    add_sweep_options,
    parse_counts,
    parse_rates,
    resolve_sweeps,
)
from lmgauge.record.recording import RunRecorder
from lmgauge.serve.figures import Slo
from lmgauge.serve.load import MAX_REQUESTS, OPEN_LOOP_SECONDS, RUN_TIMEOUT_S, open_loop_requests
from lmgauge.sources import configs, models
from lmgauge.sources.data import EMBEDDED_DATASET
from lmgauge.store.engine import NO_STORE_VARIABLE, checked_url, default_url


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lmgauge", "lmgauge benchmark options")
    add_setup_options(group)
    add_timing_options(group)
    add_report_options(group)
    add_sweep_options(group)
    add_serving_options(group)


def add_setup_options(group) -> None:
    """What runs where: models, device, dtype, threads, data set."""
    group.addoption(
        "--models",
        default=",".join(models.DEFAULT_MODELS),
        help="comma-separated models: registered names (`lmgauge models`), hf:HUB_ID, "
        "or paths to model folders or .gguf files (default: %(default)s)",
    )
    group.addoption(
        "--configs",
        default=None,
        metavar="LIST",
        help="configurations applied to every model, comma-separated, presets joined by +: "
        f"{', '.join(configs.PRESETS)} (e.g. eager,sdpa+bf16,int8,llamacpp; "
        "default: one run as --dtype says, attention as the model's config says)",
    )
    group.addoption(
        "--device",
        default="auto",
        help="where models run: cpu, cuda, cuda:N, or auto (cuda when available)",
    )
    group.addoption(
        "--dtype",
        default="float32",
        choices=compute.DTYPES,
        help="dtype the weights are loaded in (default: float32)",
    )
    group.addoption(
        "--threads",
        default=None,
        metavar="N[,N...]",
        help="torch intra-op threads (default: physical cores); recorded in the report; "
        "several values (e.g. 1,2) run every bench once per count on the same loaded models",
    )
    group.addoption(
        "--dataset",
        default=EMBEDDED_DATASET,
        help="text/label data set: the embedded Pang & Lee sentences (default) or a "
        "Hugging Face Hub data set name such as rotten_tomatoes",
    )


def add_timing_options(group) -> None:
    """How timings are taken and judged: rounds, budget, injected slowdown, timing checks."""
    group.addoption(
        "--rounds",
        type=int,
        default=RoundPolicy.min_rounds,
        help="fewest timed rounds of each latency measurement, after one untimed warmup call; "
        "more run until the median's 95 %% interval is within --round-width or --round-budget "
        "is spent (default: %(default)s)",
    )
    group.addoption(
        "--round-width",
        type=float,
        default=None,
        metavar="FRACTION",
        help="relative half-width of the median's 95 %% interval at which a latency's rounds stop "
        "(default: a third of the gate's run-to-run spread of latencies in "
        "lmgauge/judge/gate.toml, as a 95 %% half-width: 0.111)",
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
        "--inject-slowdown-models",
        default=None,
        metavar="NAME[,NAME...]",
        help="with --inject-slowdown: slow only these models (default: every model)",
    )
    group.addoption(
        "--no-calibration",
        action="store_true",
        help="do not calibrate the machine's roofs: no roofs, roofline bounds or efficiencies "
        "are recorded and no timing is checked against a roof (lmgauge ab passes it to the runs "
        "that repeat only timed tests, when no rule gates a roof: each side's first run "
        "recorded them)",
    )
    group.addoption(
        "--timing-checks",
        default="judge",
        choices=("judge", "record"),
        help="judge: a timing sanity check that fails (batching did not raise throughput, a "
        "time under its roofline bound) fails its bench; record: it only flags the bench's "
        "results `timing-check-failed`, for runs whose speed is not the question "
        "(default: %(default)s)",
    )


def add_serving_options(group) -> None:
    """Models behind servers (benches/bench_serve.py): which servers, what load, what SLO."""
    group.addoption(
        "--servers",
        default=None,
        metavar="LIST",
        help="start each model of --models behind these OpenAI-compatible servers on "
        "127.0.0.1 and bench them under load: llamacpp, transformers, vllm (its CPU build, "
        "from an environment lmgauge builds once, or $LMGAUGE_VLLM_PYTHON) (subjects "
        "MODEL@serve-SERVER)",
    )
    group.addoption(
        "--endpoint",
        default=None,
        metavar="URL",
        help="bench a server that runs already (OpenAI-compatible, e.g. http://host:8000); "
        "the tokenizer comes from the one model of --models (subject MODEL@endpoint)",
    )
    group.addoption(
        "--concurrency",
        default=None,
        metavar="LIST",
        help="closed-loop load levels of the serving bench: that many users, each sending its "
        "next request when its last one finished (default: 1,2,4,8)",
    )
    group.addoption(
        "--request-rate",
        default=None,
        metavar="LIST",
        help="open-loop load levels of the serving bench, in requests/s, e.g. 0.5,1,2: "
        "requests arrive at that rate whatever the server's backlog (default: none)",
    )
    group.addoption(
        "--burstiness",
        type=float,
        default=1.0,
        metavar="SHAPE",
        help="shape of the gamma-distributed gaps between open-loop arrivals: 1 is a Poisson "
        "process, below 1 burstier, above 1 more even (default: %(default)s)",
    )
    group.addoption(
        "--requests",
        type=int,
        default=None,
        metavar="N",
        help="requests per load run (default: 4 per user, at least 8)",
    )
    group.addoption(
        "--slo",
        default="ttft=1,itl=0.2",
        metavar="ttft=S,itl=S",
        help="latency targets of goodput, in seconds (ms suffix allowed): a request counts "
        "when its time to first token and every gap between tokens meet them "
        "(default: %(default)s)",
    )


def add_report_options(group) -> None:
    """What happens with the run report: the gate against a base report, its folder."""
    group.addoption(
        "--gate",
        default=None,
        metavar="BASE",
        help="compare this run with BASE at the end (a run report, or a folder of run reports "
        "of the same code) and exit non-zero when a gated figure got worse or could not be "
        "judged (rules: lmgauge/judge/gate.toml)",
    )
    group.addoption(
        "--report-dir",
        default=None,
        help="folder for lmgauge's JSON run report (default: reports/ in the project)",
    )
    group.addoption(
        "--store",
        default=None,
        metavar="URL",
        help="results database the run is stored in at its end, e.g. postgresql://user@host/db "
        "(default: $LMGAUGE_STORE, else sqlite:///<report dir>/lmgauge.db)",
    )
    group.addoption(
        "--no-store",
        action="store_true",
        help="do not store the run in a results database (the JSON report is still written)",
    )


def pytest_configure(config: pytest.Config) -> None:
    options = config.option
    check_not_distributed(config)
    try:
        specs = models.resolve_many(options.models)
        device = compute.resolve_device(options.device)
        dtype = compute.resolve_dtype(options.dtype)
        run_configs = serving_configs(options)
        for run_config in run_configs:
            configs.check_device(run_config, device, options.dtype)
        thread_counts = (
            parse_counts(options.threads, "--threads")
            if options.threads is not None
            else [compute.default_threads()]
        )
        check_thread_sweep(run_configs, thread_counts, options.threads)
        threads = compute.set_threads(thread_counts[0])
        sweeps = resolve_sweeps(options)
        policy = round_policy(options)
        if not 0 <= options.inject_slowdown <= 10:
            raise ValueError(
                f"--inject-slowdown must be a fraction from 0 to 10, got {options.inject_slowdown}."
            )
        slowdown_models = (
            tuple(spec.name for spec in models.resolve_many(options.inject_slowdown_models))
            if options.inject_slowdown_models
            else ()
        )
        if options.gate and options.rounds < MIN_GATED_ROUNDS:
            raise ValueError(
                f"--gate with --rounds {options.rounds} is refused: a run value from fewer than "
                f"{MIN_GATED_ROUNDS} rounds is not the figure the baseline's spread was measured "
                f"on, so the gate could not judge it."
            )
        if options.gate and (runs_nothing := running_no_test(config)):
            raise ValueError(f"--gate {options.gate} with {runs_nothing} is refused: no test "
                             "runs, so the gate would judge nothing.")  # fmt: skip
        gate_base = (options.gate, read_baseline(options.gate)) if options.gate else None
        serving = serving_options(options, specs, thread_counts)
        report_dir = Path(options.report_dir) if options.report_dir else config.rootpath / "reports"
        store_url = (
            None if no_store(options) else checked_url(options.store or default_url(report_dir))
        )
    except (LmgaugeError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    run_options = recorded_options(options, specs, device, threads, thread_counts, sweeps)
    run_options["round_width"] = policy.width
    if options.configs is not None or options.servers or options.endpoint:
        run_options["configs"] = [run_config.name for run_config in run_configs]
    if options.servers or options.endpoint:
        run_options["serving"] = serving.describe()
    subjects = [Subject(spec, run_config) for spec in specs for run_config in run_configs]
    config.stash[RUN_STATE] = RunState(
        subjects={subject.name: subject for subject in subjects},
        device=device,
        dtype=dtype,
        threads=threads,
        thread_counts=thread_counts if len(thread_counts) > 1 else [threads],
        sweeps=sweeps,
        dataset=options.dataset,
        round_policy=policy,
        report_dir=report_dir,
        recorder=RunRecorder(run_options),
        gate_base=gate_base,
        slowdown=options.inject_slowdown,
        slowdown_models=slowdown_models,
        judge_timing_checks=options.timing_checks == "judge",
        calibrate=not options.no_calibration,
        store_url=store_url,
        serving=serving,
    )


def check_thread_sweep(run_configs: list, thread_counts: list[int], text) -> None:
    """ValueError in one sentence for a --threads sweep with a native runtime (llama.cpp, ONNX
    Runtime GenAI): it opens the model once, with the first count, so the later counts' figures
    would be labelled with a thread count they did not run with."""
    fixed = [c.name for c in run_configs if c.runtime in (configs.LLAMACPP, configs.ONNX_GENAI)]
    if fixed and len(thread_counts) > 1:
        raise ValueError(f"--threads {text} with {', '.join(fixed)} is refused: that runtime "
                         f"opens the model once, with one thread count; run each count on its "
                         f"own.")  # fmt: skip


def serving_configs(options) -> list:
    """--configs (the default configuration when absent), then the served configurations of
    --servers and --endpoint: a served model runs beside its in-process self."""
    served = configs.served_configs(options.servers, options.endpoint)
    return [*configs.parse_configs(options.configs), *served]


def serving_options(options, specs, thread_counts: list[int]) -> ServingOptions:
    """The serving bench's load levels, request count and SLO; ValueError in one sentence."""
    served = options.servers or options.endpoint
    for name in ("concurrency", "request_rate"):
        if getattr(options, name) and not served:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} loads a server: give --servers or --endpoint with it.")
    if served and len(thread_counts) > 1:
        raise ValueError(f"--threads {options.threads} with a server is refused: a server is "
                         "started once, with one thread count; run each count on its "
                         "own.")  # fmt: skip
    if options.endpoint and len(specs) != 1:
        raise ValueError(f"--endpoint serves one model; give its name (for the tokenizer) as "
                         f"the one model of --models, not {len(specs)}.")  # fmt: skip
    if options.requests is not None and not 1 <= options.requests <= MAX_REQUESTS:
        raise ValueError(f"--requests must be from 1 to {MAX_REQUESTS}, got {options.requests}.")
    levels = parse_counts(options.concurrency, "--concurrency") if options.concurrency else []
    if options.requests is not None and levels and options.requests < max(levels):
        raise ValueError(f"--requests {options.requests} is fewer than --concurrency "
                         f"{max(levels)}: that level would never have all its users at once.")
    if not 0 < options.burstiness < math.inf:
        raise ValueError(f"--burstiness must be a finite number above 0, got "
                         f"{options.burstiness:g}.")  # fmt: skip
    for rate in parse_rates(options.request_rate, "--request-rate") if options.request_rate else []:
        if options.requests is None and rate * OPEN_LOOP_SECONDS > MAX_REQUESTS:
            raise ValueError(f"--request-rate {rate:g} would send more than {MAX_REQUESTS} "
                             f"requests in one load run ({OPEN_LOOP_SECONDS:g} s of arrivals); "
                             f"give at most {MAX_REQUESTS / OPEN_LOOP_SECONDS:g} requests/s, or "
                             f"--requests.")  # fmt: skip
        seconds = (options.requests or open_loop_requests(rate)) / rate
        if seconds > 0.8 * RUN_TIMEOUT_S:
            raise ValueError(f"--request-rate {rate:g} would spread its requests over "
                             f"{seconds:.0f} s, beyond what a load run may take "
                             f"({RUN_TIMEOUT_S:.0f} s); raise the rate or lower "
                             "--requests.")  # fmt: skip
    return ServingOptions(options.endpoint, options.requests, Slo.parse(options.slo),
                          options.burstiness)  # fmt: skip


def no_store(options) -> bool:
    return bool(options.no_store or os.environ.get(NO_STORE_VARIABLE))


def round_policy(options) -> RoundPolicy:
    """--rounds, --round-budget and --round-width; the width by default from the gate's rules."""
    if options.round_width is not None:
        width, reason = options.round_width, "--round-width"
    else:
        width, reason = round_width(load_gate_rules(DEFAULT_RULES))
    return RoundPolicy(min_rounds=options.rounds, budget_s=options.round_budget, width=width,
                       width_reason=reason)  # fmt: skip


PARALLEL_BENCHES = (
    "benches cannot run in pytest-xdist workers (-n or --dist): each worker would load every "
    "model again and time it while the others load the same CPUs; run them in one process "
    "(drop -n and --dist)."
)


def check_not_distributed(config: pytest.Config) -> None:
    """pytest.UsageError when pytest-xdist would spread bench files (bench_*.py, outside
    --ignore) over workers; lmgauge's own tests may run under -n, and --collect-only runs
    nothing."""
    if config.getoption("dist", "no") == "no" or not config.getoption("tx", None):
        return
    if config.option.collectonly:
        return
    here = config.invocation_params.dir
    ignored = [(here / folder).resolve() for folder in config.getoption("ignore", None) or []]
    globs = [str((here / glob).absolute()) for glob in config.getoption("ignore_glob", None) or []]
    skipped = config.getini("norecursedirs")
    for argument in config.args:
        path = (here / argument.split("::")[0]).resolve()
        if path.is_dir():  # pytest leaves out --ignore'd folders it walks into, not named files
            found = [bench for bench in bench_files(path, skipped)
                     if not any(map(bench.is_relative_to, ignored))
                     and not glob_ignored(bench, path, globs)]  # fmt: skip
        else:
            found = [path] if path.is_file() and path.name.startswith("bench_") else []
        if found:
            raise pytest.UsageError(PARALLEL_BENCHES)


def glob_ignored(bench: Path, top: Path, globs: list[str]) -> bool:
    """Whether pytest's --ignore-glob leaves `bench` out when it walks from `top`: it matches
    each path it collects (the file, and each folder on the way) against the globs made
    absolute. (A conftest's collect_ignore is not read here: a bench it hides is refused.)"""
    on_the_way = [bench, *[parent for parent in bench.parents if parent.is_relative_to(top)]]
    return any(fnmatch(str(path), glob) for path in on_the_way for glob in globs)


def bench_files(folder: Path, skipped: list[str]) -> list[Path]:
    """The bench_*.py files pytest would collect under `folder`: not in folders that match
    norecursedirs (hidden ones, A/B worktrees under .lmgauge) or hold a virtual environment."""
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders
                      if not any(fnmatch(name, pattern) for pattern in skipped)
                      and not (Path(root) / name / "pyvenv.cfg").exists()]  # fmt: skip
        found += [Path(root) / name for name in files if fnmatch(name, "bench_*.py")]
    return found


def recorded_options(options, specs, device, threads, thread_counts, sweeps) -> dict:
    """The options as the report records them (`run.options`): what they resolved to, and the
    optional ones only when given."""
    recorded = {
        "models": [spec.name for spec in specs],
        "device": str(device),
        "dtype": options.dtype,
        "threads": threads,
        "dataset": options.dataset,
        "rounds": options.rounds,
        "round_budget_s": options.round_budget,
        **sweeps,
    }
    if len(thread_counts) > 1:
        recorded["threads_swept"] = thread_counts
    if options.inject_slowdown:
        recorded["inject_slowdown"] = options.inject_slowdown
        if options.inject_slowdown_models:
            recorded["inject_slowdown_models"] = options.inject_slowdown_models
    if options.no_calibration:
        recorded["calibration"] = False
    if options.timing_checks != "judge":
        recorded["timing_checks"] = options.timing_checks
    return recorded
