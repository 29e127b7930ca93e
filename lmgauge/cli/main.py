"""The `lmgauge` command: manage the offline cache, list models, read and compare run reports.

Every user error ends as one line on stderr (`lmgauge: ...`) and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from lmgauge.cli.ab import add_ab_commands
from lmgauge.cli.reports import add_report_commands
from lmgauge.cli.store import add_store_commands
from lmgauge.errors import LmgaugeError
from lmgauge.sources import assets, builders, models
from lmgauge.sources.cache import cache_root

CONVERTED_MODELS = [
    name
    for name, spec in models.REGISTRY.items()
    if spec.source == "asset" and name not in assets.ASSETS
]
"""Embedded models whose asset is converted once into a model folder (SmolLM2 from GGUF)."""


SIDE_ARGUMENTS = ("--base-args", "--new-args")
"""Options whose value is itself pytest options: argparse takes a value such as
"--no-calibration" (one word starting with a dash) for an option of its own."""


def joined_side_arguments(argv: list[str]) -> list[str]:
    """argv with `--new-args VALUE` written as `--new-args=VALUE`, so that a value that starts
    with a dash is read as the value."""
    joined: list[str] = []
    values = iter(argv)
    for argument in values:
        value = next(values, None) if argument in SIDE_ARGUMENTS else None
        joined.append(f"{argument}={value}" if value is not None else argument)
    return joined


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    passed_on = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = joined_side_arguments(argv[: argv.index("--")] if "--" in argv else argv)
    parser = build_parser()
    arguments = parser.parse_args(argv)
    arguments.pytest_args = passed_on
    try:
        return arguments.handler(arguments)
    except LmgaugeError as error:
        print(f"lmgauge: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        print(f"lmgauge: cannot write or read{where}: {error.strerror or error}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lmgauge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmgauge", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    fetch = commands.add_parser("assets", help="fetch, verify and cache the offline assets")
    fetch.add_argument(
        "names",
        nargs="*",
        help="assets or cached models to fetch (default: all embedded assets and "
        "the SmolLM2 conversion)",
    )
    fetch.add_argument(
        "--refresh",
        action="store_true",
        help="delete the cached copies of NAMES first and fetch or build them again",
    )
    fetch.add_argument(
        "--list",
        action="store_true",
        help="only show what is cached, every asset file hashed again (seconds per GB)",
    )
    fetch.set_defaults(handler=run_assets)

    listing = commands.add_parser("models", help="list the registered models")
    listing.set_defaults(handler=run_models)

    catalogue = commands.add_parser("metrics", help="print the metric catalogue as Markdown")
    catalogue.set_defaults(handler=run_metrics)

    show = commands.add_parser("show", help="check a run report and print its results")
    show.add_argument("report", help="path of a JSON run report")
    show.set_defaults(handler=run_show)
    add_report_commands(commands)
    add_ab_commands(commands)
    add_store_commands(commands)
    return parser


def run_assets(arguments) -> int:
    print(f"cache: {cache_root()}")
    if arguments.list:
        for row in assets.status():
            print(f"  {row['name']:<20} {row['state']:<10} {row['description']}")
        return 0
    names = arguments.names or [*assets.ASSETS, *CONVERTED_MODELS]
    for name in names:
        if name not in assets.ASSETS and name not in models.REGISTRY:
            raise LmgaugeError(
                f"'{name}' is neither an asset ({', '.join(assets.ASSETS)}) nor a registered "
                f"model ({', '.join(models.known_names())})."
            )
        if name not in assets.ASSETS:
            spec = models.REGISTRY[name]
            if spec.source not in models.BUILT_SOURCES:
                raise LmgaugeError(f"model '{name}' has no cached files to fetch.")
            refresh = (
                builders.refresh_model_folder if arguments.refresh else builders.ensure_model_folder
            )
            print(f"  {name:<20} ready in {refresh(spec)}")
        else:
            fetch = assets.refresh if arguments.refresh else assets.ensure
            print(f"  {name:<20} ready in {fetch(name)}")
    return 0


def run_models(arguments) -> int:
    import pandas as pd

    rows = [
        {
            "name": spec.name,
            "task": spec.task,
            "weights": spec.weights,
            "source": spec.source,
            "parameters": f"{spec.expected_parameters:,}" if spec.expected_parameters else "",
            "default": "yes" if name in models.DEFAULT_MODELS else "",
            "description": spec.description,
        }
        for name, spec in models.REGISTRY.items()
    ]
    print(pd.DataFrame(rows).to_string(index=False))
    print("\nAlso accepted by --models: hf:HUB_ID (or ORG/NAME), a model folder, a .gguf file.")
    return 0


def run_metrics(arguments) -> int:
    from lmgauge.record.metrics import METRICS

    print("| metric | unit | direction | meaning |")
    print("|---|---|---|---|")
    for metric in METRICS.values():
        print(f"| `{metric.name}` | {metric.unit} | {metric.direction} | {metric.meaning} |")
    return 0


def run_show(arguments) -> int:
    import pandas as pd

    from lmgauge.record.report import read_report
    from lmgauge.render.configs_table import configs_markdown, has_configs
    from lmgauge.render.cost_tables import costs_markdown, has_costs
    from lmgauge.render.serving_table import has_served, serving_markdown

    document = read_report(arguments.report)
    run = document["run"]
    print(
        f"{arguments.report}: status {run['status']}, {len(document['results'])} results, "
        f"created {document['created_utc']}"
    )
    if not document["results"]:
        return 0
    frame = pd.DataFrame(document["results"])
    frame["params"] = frame["params"].map(lambda p: ", ".join(f"{k}={v}" for k, v in p.items()))
    columns = ["model", "bench", "metric", "params", "value", "unit"]
    print(frame[columns].to_string(index=False))
    if has_configs(document):
        print()
        print(configs_markdown(document))
    if has_costs(document):
        print()
        print(costs_markdown(document))
    if has_served(document):
        print()
        print(serving_markdown(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
