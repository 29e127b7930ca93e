"""The `lmgauge` commands that read run reports: compare, gate, plot, summary, export-github;
and rules, which prints the gate rules those commands judge by."""

from __future__ import annotations

import json
import math
from pathlib import Path

from lmgauge.errors import LmgaugeError


def add_report_commands(commands) -> None:
    compare = commands.add_parser("compare", help="compare two run reports figure by figure")
    add_pair(compare)
    compare.add_argument("--format", choices=("text", "markdown", "csv"), default="text")
    compare.add_argument("--all", action="store_true", help="also list figures that are the same")
    compare.add_argument("--output", help="write the table to this file instead of stdout")
    compare.set_defaults(handler=run_compare)

    gate = commands.add_parser(
        "gate",
        help="exit 1 when a gated figure of NEW got worse than in BASE, or could not be judged",
        description="BASE is one run report, or a folder of run reports of the same code on "
        "this runner (a baseline of several runs: their medians, and from five runs on each "
        "figure's run-to-run spread from them). NEW is one run report, or a folder of several "
        "runs of the code under test, judged as their medians: on a noisy runner a 1.3x "
        "slowdown of one model is caught more often by several new runs than by one (the "
        "measured rates are in the README, Comparing runs).",
    )
    add_pair(gate, "the run report, or folder of run reports of one code, to judge against",
             "the run report, or folder of run reports of one code, being judged")
    gate.set_defaults(handler=run_gate_command)

    check = commands.add_parser(
        "stored-check",
        help="the stored-baseline gate's false-alarm and detection rates on runs made here",
        description="SAME is a folder of run reports of the same code made back to back on "
        "this runner; every ordered pair is gated (false alarms), and every report in --slowed "
        "(runs with --inject-slowdown) against every same-code run (detections). Spreads are "
        "estimated without the pair being judged.",
    )
    check.add_argument("same", metavar="SAME")
    check.add_argument("--slowed", metavar="DIR", help="folder of slowed run reports")
    check.add_argument(
        "--rules-spreads", action="store_true",
        help="judge with the rules' stated run_spread, as a gate against one stored run does, "
        "instead of spreads estimated from the other runs",
    )  # fmt: skip
    check.add_argument(
        "--new-runs", type=int, metavar="N",
        help="judge a new side of N runs against a folder of the other same-code runs (as "
        "`lmgauge gate BASE_FOLDER NEW_FOLDER` does), instead of one run against one stored run",
    )  # fmt: skip
    check.add_argument(
        "--scale", metavar="MODEL=F[,F...]",
        help="scaled trials: also gate a copy of each same-code trial's new side with MODEL's "
        "timings made F times worse (F above 1; e.g. smollm2-135m=1.5,2), and count the copies "
        "in which the gate found MODEL worse",
    )  # fmt: skip
    check.add_argument("--rules", help="gate rules TOML (default: lmgauge/judge/gate.toml)")
    check.set_defaults(handler=run_stored_check)

    rules = commands.add_parser("rules", help="print the gate rules as a Markdown table")
    rules.add_argument("--rules", help="gate rules TOML (default: lmgauge/judge/gate.toml)")
    rules.set_defaults(handler=run_rules)

    plot = commands.add_parser("plot", help="draw PNG charts of one run, or compare two")
    plot.add_argument("reports", nargs="+", metavar="REPORT", help="one report, or BASE NEW")
    plot.add_argument("--out", help="folder for the PNGs (default: beside the last report)")
    plot.set_defaults(handler=run_plot)

    summary = commands.add_parser(
        "summary", help="write the Markdown summary beside a report, with the tables and charts "
        "it links to",
    )  # fmt: skip
    summary.add_argument("report")
    summary.set_defaults(handler=run_summary)

    export = commands.add_parser(
        "export-github", help="write github-action-benchmark JSON (customSmallerIsBetter etc.)"
    )
    export.add_argument("report")
    export.add_argument("--direction", choices=("lower", "higher"), required=True)
    export.add_argument("--output", required=True)
    export.set_defaults(handler=run_export)


def add_pair(
    parser, base_help="the run report to compare against", new_help="the run report being judged"
) -> None:
    parser.add_argument("base", help=base_help)
    parser.add_argument("new", help=new_help)
    parser.add_argument("--rules", help="gate rules TOML (default: lmgauge/judge/gate.toml)")


def load_rules(path: str | None):
    from lmgauge.judge.gate import DEFAULT_RULES
    from lmgauge.judge.gate_rules import load_gate_rules

    try:
        return load_gate_rules(Path(path) if path else DEFAULT_RULES)
    except ValueError as error:
        raise LmgaugeError(str(error)) from None


def run_rules(arguments) -> int:
    from lmgauge.render.rules_table import rules_markdown

    print(rules_markdown(load_rules(arguments.rules)), end="")
    return 0


def load_pair(arguments):
    """The two reports to compare; one sentence when either is a folder (a baseline of several
    runs is judged by `lmgauge gate`, which reads folders)."""
    from lmgauge.record.report import read_report

    for path in (arguments.base, arguments.new):
        if Path(path).is_dir():
            raise LmgaugeError(f"{path} is a folder; this command compares two run reports, and "
                               "`lmgauge gate BASE NEW` judges a folder of runs.")
    return read_report(arguments.base), read_report(arguments.new)


def run_compare(arguments) -> int:
    from lmgauge.judge.compare import compare
    from lmgauge.render.comparison import render

    base, new = load_pair(arguments)
    comparison = compare(base, new, load_rules(arguments.rules), arguments.base, arguments.new)
    text = render(comparison, arguments.format, arguments.all)
    if arguments.output:
        from lmgauge.record.report import write_text_atomic

        write_text_atomic(text, Path(arguments.output))
    else:
        print(text, end="")
    return 0


def run_gate_command(arguments) -> int:
    from lmgauge.judge.gate import run_gate
    from lmgauge.judge.run_folder import read_sides

    base, new = read_sides(arguments.base, arguments.new)
    result = run_gate(base, new, load_rules(arguments.rules), arguments.base, arguments.new)
    print(result.message())
    return 0 if result.passed else 1


def reports_in(folder: str, role: str) -> list[dict]:
    from lmgauge.judge.run_folder import read_run_folder

    if not Path(folder).is_dir():
        raise LmgaugeError(f"{role} folder {folder} is not a folder.")
    return read_run_folder(folder, role)


def run_stored_check(arguments) -> int:
    from lmgauge.runs.stored_check import folder_rates, rates_markdown, stored_rates

    rules = load_rules(arguments.rules)
    if arguments.new_runs is not None and arguments.new_runs < 1:
        raise LmgaugeError(f"--new-runs must be 1 or more, got {arguments.new_runs}.")
    if arguments.new_runs and arguments.rules_spreads:
        raise LmgaugeError("--rules-spreads and --new-runs exclude each other: a base folder "
                           "always gives its own spreads.")  # fmt: skip
    same = reports_in(arguments.same, "same-code")
    slowed = reports_in(arguments.slowed, "slowed") if arguments.slowed else []
    scale = parsed_scale(arguments.scale, same) if arguments.scale else None
    try:
        if arguments.new_runs:
            rates = folder_rates(same, slowed, rules, arguments.new_runs, scale)
        else:
            rates = stored_rates(same, slowed, rules, not arguments.rules_spreads, scale)
    except ValueError as error:
        raise LmgaugeError(str(error)) from None
    source = "the rules' run_spread (one stored run as the base)" if arguments.rules_spreads else ""
    if arguments.new_runs:
        source = (f"a new side of {arguments.new_runs} run(s) against a folder of the other "
                  "same-code runs; model families judged")  # fmt: skip
    print(rates_markdown(rates, len(same), rules.alpha, source, len(slowed)), end="")
    return 0


def parsed_scale(text: str, same: list[dict]):
    """--scale MODEL=F[,F...] as a Scale; LmgaugeError in one sentence for a model the
    same-code runs do not hold (naming those they do) or a factor that is not above 1."""
    from lmgauge.runs.stored_check import Scale

    model, equals, factors = text.rpartition("=")
    try:  # float() would read "1_5" as 15
        parsed = () if "_" in factors else tuple(dict.fromkeys(map(float, factors.split(","))))
    except ValueError:
        parsed = ()
    if not equals or not parsed or not all(1 < factor < math.inf for factor in parsed):
        raise LmgaugeError(f"--scale {text!r}: give MODEL=F[,F...] with finite factors above 1 "
                           "(e.g. smollm2-135m=1.5,2).")  # fmt: skip
    models = sorted({r["model"] for r in same[0]["results"] if r.get("model")})
    if model not in models:
        raise LmgaugeError(f"--scale {text!r}: the same-code runs hold no model {model!r}; they "
                           f"hold {', '.join(models) or 'no model'}.")  # fmt: skip
    return Scale(model, parsed)


def run_plot(arguments) -> int:
    from lmgauge.render.plots import draw

    if len(arguments.reports) > 2:
        raise LmgaugeError("plot takes one report, or two (BASE NEW) to compare.")
    drawn = draw([Path(p) for p in arguments.reports], arguments.out)
    for path in drawn:
        print(path)
    if not drawn:
        print("lmgauge plot: nothing to draw: the report holds none of the figures the charts "
              "show (configurations, serving levels, cost against model size, batch scaling, "
              "cache cost, roofline efficiencies; a comparison needs two reports)")  # fmt: skip
    return 0


def run_summary(arguments) -> int:
    """The summary beside the report, with the tables and charts it links to."""
    from lmgauge.record.report import read_report
    from lmgauge.runs.session_end import write_summary

    path = Path(arguments.report)
    for written in write_summary(read_report(path), path):
        print(written)
    return 0


def run_export(arguments) -> int:
    from lmgauge.record.report import read_report, write_text_atomic
    from lmgauge.render.github_export import github_benchmark_entries

    entries = github_benchmark_entries(read_report(arguments.report), arguments.direction)
    write_text_atomic(json.dumps(entries, indent=2) + "\n", Path(arguments.output))
    print(f"{arguments.output}: {len(entries)} figures")
    return 0
