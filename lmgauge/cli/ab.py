"""The `lmgauge` commands that run benches themselves: ab (paired A/B runs), gate-check (the
gate's own error rates) and recover (reports from killed runs' journals)."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from lmgauge.errors import LmgaugeError

MAX_RUNS = 12
"""lmgauge.runs.ab.MAX_RUNS, not imported: building the parser stays free of numpy and scipy."""


def add_ab_commands(commands) -> None:
    ab = commands.add_parser(
        "ab",
        help="run two sides interleaved on this machine and judge them pair by pair",
        description="lmgauge ab [options] -- PYTEST_ARGS: base and new run as A B B A ..., "
        "each a fresh pytest process; exit 1 when a gated figure got significantly worse.",
    )
    ab.add_argument("--base", help="git ref or python:PATH (default: this checkout)")
    ab.add_argument("--new", help="git ref or python:PATH (default: this checkout)")
    ab.add_argument("--base-args", default="", help="extra pytest arguments for the base side")
    ab.add_argument("--new-args", default="", help="extra pytest arguments for the new side")
    ab.add_argument("--runs", type=int, default=4, help="runs per side first (default: 4)")
    ab.add_argument(
        "--max-runs", type=int, default=MAX_RUNS,
        help="most runs per side: pairs are added while a model family of gated timings is "
        "borderline; one still worse beyond the tolerance without significance then fails "
        f"(default: {MAX_RUNS})",
    )  # fmt: skip
    add_common(ab)
    ab.set_defaults(handler=run_ab)

    check = commands.add_parser(
        "gate-check",
        help="measure the A/B and stored-baseline gates' false-alarm and detection rates",
        description="lmgauge gate-check [options] -- PYTEST_ARGS: K trials, each with a base "
        "side, the same code again, and the same code slowed by --slowdown (every forward "
        "pass busy-waits that fraction of its own time: a validation aid).",
    )
    check.add_argument("--trials", type=int, default=10, help="trials (default: 10)")
    check.add_argument("--runs", type=int, default=4, help="runs per side first (default: 4)")
    check.add_argument(
        "--max-runs", type=int, default=MAX_RUNS,
        help=f"most runs per side, added as lmgauge ab adds them (default: {MAX_RUNS})",
    )  # fmt: skip
    check.add_argument("--slowdown", type=float, default=0.15, help="injected (default: 0.15)")
    check.add_argument(
        "--from", dest="from_file", metavar="JSON",
        help="print the rates and the simulation of an earlier gate-check.json; run nothing",
    )  # fmt: skip
    add_common(check)
    check.set_defaults(handler=run_gate_check)

    recover = commands.add_parser(
        "recover", help="turn the journals of killed runs in DIR into reports (status killed)"
    )
    recover.add_argument("folder", metavar="DIR")
    recover.set_defaults(handler=run_recover)


def add_common(parser) -> None:
    parser.add_argument("--report-dir", default="reports", help="where results go")
    parser.add_argument("--rules", help="gate rules TOML (default: lmgauge/judge/gate.toml)")


def output_folder(report_dir: str, kind: str) -> Path:
    from lmgauge.record.recovery import check_writable

    folder = Path(report_dir) / f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    check_writable(folder)
    return folder


def store_verdict(document: dict, path: Path, report_dir: Path) -> str:
    """Store the A/B verdict in the results store of `report_dir` (as a bench run with that
    --report-dir would: $LMGAUGE_STORE, else its lmgauge.db); one line on what happened."""
    from lmgauge.store.engine import StoreError, default_url, open_store, shown
    from lmgauge.store.writing import store_ab

    url = default_url(report_dir)
    try:
        stored = store_ab(open_store(url), document, str(path))
    except StoreError as error:
        return f"lmgauge ab: the verdict was not stored ({error})"
    return f"lmgauge ab: verdict stored as A/B run {stored.run_id} in {shown(url)}"


def run_ab(arguments) -> int:
    from lmgauge.cli.reports import load_rules
    from lmgauge.runs.ab import AbPlan, check_counts, run_ab, verdict_line
    from lmgauge.runs.ab_sides import resolve_side

    check_counts(arguments.runs, arguments.max_runs)
    repository = Path.cwd()
    base = resolve_side("base", arguments.base, arguments.base_args, repository)
    new = resolve_side("new", arguments.new, arguments.new_args, repository)
    plan = AbPlan(base, new, arguments.pytest_args, arguments.runs, arguments.max_runs, Path(),
                  load_rules(arguments.rules))  # fmt: skip
    plan.check()
    if base.identity() == new.identity():
        print(
            "lmgauge ab: both sides are the same code, environment and arguments, so this is an "
            "A/A run: it measures this machine's noise (give --base, --new, --base-args or "
            "--new-args to compare two things).",
            file=sys.stderr,
        )
    plan = replace(plan, out=output_folder(arguments.report_dir, "ab"))
    outcome = run_ab(plan)
    print(verdict_line(outcome.document))
    print(f"lmgauge ab: report {outcome.report} and {outcome.markdown}")
    print(store_verdict(outcome.document, outcome.report, Path(arguments.report_dir)))
    if outcome.document["status"] != "complete":
        raise LmgaugeError(
            f"the A/B run did not complete: {outcome.document['status']}; judged "
            f"{outcome.document['pairs']} complete pair{'s' * (outcome.document['pairs'] != 1)}."
        )
    return 0 if outcome.document["passed"] else 1


def run_gate_check(arguments) -> int:
    from lmgauge.cli.reports import load_rules
    from lmgauge.runs.ab import check_counts
    from lmgauge.runs.gate_check import analyse, gate_check

    if arguments.from_file:
        try:
            analyse(Path(arguments.from_file), load_rules(arguments.rules),
                    lambda text: print(text, flush=True))  # fmt: skip
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise LmgaugeError(
                f"{arguments.from_file} is not a gate-check record ({error})."
            ) from None
        return 0
    check_counts(arguments.runs, arguments.max_runs)
    if arguments.trials < 1 or not 0 < arguments.slowdown <= 10:
        raise LmgaugeError("--trials must be at least 1 and --slowdown a fraction above 0.")
    if not arguments.pytest_args:
        raise LmgaugeError("give the pytest arguments after --, e.g. -- benches -k generate.")
    out = output_folder(arguments.report_dir, "gate-check")
    summary = gate_check(
        arguments.pytest_args, arguments.trials, arguments.runs, arguments.slowdown,
        load_rules(arguments.rules), out, arguments.max_runs,
    )  # fmt: skip
    print(summary)
    return 0


def run_recover(arguments) -> int:
    from lmgauge.record.recovery import RecoveryError, recover_folder

    folder = Path(arguments.folder)
    if not folder.is_dir():
        raise LmgaugeError(f"{folder} is not a folder.")
    try:
        made, problem = recover_folder(folder), None
    except RecoveryError as error:
        made, problem = error.made, error
    for path in made:
        print(f"recovered {path}")
    if problem is not None:
        raise problem
    if not made:
        print(f"no journals of killed runs in {folder}")
    return 0
