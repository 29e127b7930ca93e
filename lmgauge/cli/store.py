"""The `lmgauge` commands of the results store: store reports, show a figure's history, write
the dashboard."""

from __future__ import annotations

from pathlib import Path

from lmgauge.errors import LmgaugeError


def count_of_runs(text: str) -> int:
    """--last's value: a whole number of runs, 1 or more (argparse says so in one line)."""
    import argparse

    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of runs (1 or more)")
    return count


def add_store_commands(commands) -> None:
    store = commands.add_parser("store", help="store run reports in the results database")
    store.add_argument("reports", nargs="+", type=Path, help="run report JSON files")
    add_store_option(store)
    store.set_defaults(handler=run_store)

    history = commands.add_parser(
        "history",
        help="the stored runs, newest first (as git log); with --model and --metric, one "
        "figure over them, per machine, with its steps",
    )
    history.add_argument("--model", help="model name as the reports name it")
    history.add_argument("--metric", help="metric, e.g. decode_step_seconds")
    history.add_argument("--config", default="default", help="configuration (default: default)")
    history.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="keep the series whose parameters include this (repeatable)",
    )  # fmt: skip
    history.add_argument(
        "--machine", default=None, help="keep machines whose class or host name contains this"
    )
    history.add_argument("--last", type=count_of_runs, default=None,
                         help="print only the last N runs")
    add_store_option(history)
    history.set_defaults(handler=run_history)

    dashboard = commands.add_parser(
        "dashboard", help="write a static dashboard site of the stored runs"
    )
    dashboard.add_argument("--out", type=Path, default=Path("reports/dashboard"),
                           help="folder of the site (default: reports/dashboard)")  # fmt: skip
    add_store_option(dashboard)
    dashboard.set_defaults(handler=run_dashboard)

    export = commands.add_parser(
        "export-dataset", help="write stored results as a Hugging Face datasets folder"
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write")
    export.add_argument("--model", default=None, help="only this model")
    export.add_argument("--metric", default=None, help="only this metric")
    add_store_option(export)
    export.set_defaults(handler=run_export_dataset)

    scale = commands.add_parser(
        "store-scale", help="measure the store on many runs synthesised from one report"
    )
    scale.add_argument("template", type=Path, help="a real run report to synthesise runs from")
    scale.add_argument("--runs", type=int, default=10_000)
    scale.add_argument("--machines", type=int, default=8)
    scale.add_argument("--model", default="smollm2-135m", help="model whose history is timed")
    scale.add_argument("--store", required=True, metavar="URL", help="an empty store to fill")
    scale.set_defaults(handler=run_store_scale)


def add_store_option(parser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="database URL (default: $LMGAUGE_STORE, else sqlite:///reports/lmgauge.db)",
    )


def store_url(arguments) -> str:
    from lmgauge.store.engine import default_url

    return arguments.store or default_url(Path("reports"))


def run_store(arguments) -> int:
    from lmgauge.store.engine import open_store, shown

    url = store_url(arguments)
    engine = open_store(url)
    failures = 0
    for path in arguments.reports:
        try:
            stored = store_any(engine, path)
        except LmgaugeError as error:
            print(f"lmgauge: {error}")
            failures += 1
            continue
        state = "stored as" if stored.new else "already stored as"
        print(f"{path}: {state} {stored.kind} {stored.run_id} in {shown(url)}")
    return 2 if failures else 0


def store_any(engine, path: Path):
    """Store a run report, or the verdict of an A/B report (lmgauge ab's ab.json)."""
    import json

    from lmgauge.record.ab_format import FORMAT as AB_FORMAT
    from lmgauge.record.ab_format import ab_problem
    from lmgauge.record.report import read_json_object, validate
    from lmgauge.store.writing import store_ab, store_report

    document = read_json_object(path)
    if isinstance(document, dict) and document.get("format") == AB_FORMAT:
        try:
            json.dumps(document, allow_nan=False)
        except ValueError:
            raise LmgaugeError(f"{path} holds NaN or Infinity, which lmgauge ab never writes (it "
                               "writes strict JSON, null where a figure is not finite): it may "
                               "have been edited.") from None  # fmt: skip
        problem = ab_problem(document)
        if problem:
            raise LmgaugeError(f"{path} is not an A/B report as lmgauge ab writes it: {problem}.")
        return store_ab(engine, document, str(path))
    return store_report(engine, validate(document, path), str(path))


def parse_params(pairs: list[str]) -> dict:
    wanted = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise LmgaugeError(f"--param takes KEY=VALUE, got '{pair}'.")
        wanted[key] = int(value) if value.lstrip("-").isdigit() else value
    return wanted


def run_history(arguments) -> int:
    from lmgauge.render.history import EFFICIENCY_OF, history_text
    from lmgauge.store.engine import open_store

    engine = open_store(store_url(arguments), create=False)
    if not arguments.model and not arguments.metric:
        print(runs_text(engine, arguments.last or 30), end="")
        return 0
    if not arguments.model or not arguments.metric:
        raise LmgaugeError(
            "history of one figure needs both --model and --metric (without either, it lists "
            "the stored runs)."
        )
    series = figure_series(engine, arguments, arguments.metric)
    efficiency = None
    if arguments.metric in EFFICIENCY_OF:
        efficiency = figure_series(engine, arguments, EFFICIENCY_OF[arguments.metric])
    title = f"{arguments.metric} of {arguments.model} ({arguments.config})"
    print(history_text(series, title, arguments.last, efficiency), end="")
    return 0


def runs_text(engine, limit: int) -> str:
    """The newest stored runs, one line each, and how to see one figure's history."""
    from lmgauge.store.queries import figures_of, recent_runs

    runs = recent_runs(engine, limit)
    if runs.empty:
        return "no runs stored yet: a bench run stores itself at its end (see --store)\n"
    lines = [f"{len(runs)} newest stored runs:"]
    for row in runs.itertuples():
        commit = (row.commit or "")[:10] or "-"
        machine = row.machine_class or row.hostname or "-"
        lines.append(f"  run {row.run_id}  {str(row.created_utc)[:19]}  {row.name or '-'}  "
                     f"{row.status}  commit {commit}  {machine}")  # fmt: skip
    figures = figures_of(engine)
    with_model = figures[figures["model"].fillna("").astype(str) != ""] if not figures.empty \
        else figures
    example = with_model.iloc[0] if not with_model.empty else None
    if example is not None:
        lines.append(f"one figure: lmgauge history --model {example.model} --metric "
                     f"{example.metric}")  # fmt: skip
    return "\n".join(lines) + "\n"


def figure_series(engine, arguments, metric: str) -> dict:
    """The series of `metric` the history's options select, keyed by machine and params."""
    from lmgauge.store.queries import figure_rows, split_series

    rows = figure_rows(engine, metric, arguments.model, arguments.config)
    series = split_series(rows, parse_params(arguments.param))
    wanted = arguments.machine or ""
    return {key: rows for key, rows in series.items() if wanted in key[0] or wanted in key[1]}


def run_dashboard(arguments) -> int:
    import time

    from lmgauge.render.dashboard import write_site
    from lmgauge.store.engine import open_store, shown

    url = store_url(arguments)
    started = time.perf_counter()
    pages = write_site(open_store(url, create=False), arguments.out, shown(url))
    seconds = time.perf_counter() - started
    print(
        f"{arguments.out / 'index.html'}: {len(pages)} pages from {shown(url)} in {seconds:.1f} s"
    )
    return 0


def run_export_dataset(arguments) -> int:
    from lmgauge.render.hf_dataset import write_dataset
    from lmgauge.store.engine import open_store, shown
    from lmgauge.store.queries import export_rows

    url = store_url(arguments)
    rows = export_rows(open_store(url, create=False), arguments.model, arguments.metric)
    out = write_dataset(rows, arguments.out, shown(url))
    print(f"{out}: {len(rows)} results of {rows['run_id'].nunique()} runs (Parquet + README.md)")
    return 0


def run_store_scale(arguments) -> int:
    from lmgauge.record.report import read_report
    from lmgauge.runs.store_scale import measure

    figures = measure(arguments.store, read_report(arguments.template), arguments.runs,
                      arguments.machines, arguments.model)  # fmt: skip
    for name, value in figures.items():
        print(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}")
    return 0
