"""Sweeps like llama-bench: --prompt-tokens, --new-tokens, --batch-sizes and --threads take
comma-separated lists that replace a bench's default shapes for every model.

A bench declares its swept arguments and their defaults with `@pytest.mark.sweep(...)` (the
defaults may carry tier marks); a list given on the command line replaces them, unmarked, so it
runs in whichever tier is selected. `seq_len` (encoder forward passes) follows --prompt-tokens.
Several --threads values run every bench once per thread count, one after another on the same
loaded model (nothing is reloaded), and put `threads` into each result's parameters.
"""

from __future__ import annotations

import pytest

from lmgauge import compute
from lmgauge.pytest_plugin.state import run_state

AXES = {"prompt_tokens": "--prompt-tokens", "new_tokens": "--new-tokens",
        "batch_sizes": "--batch-sizes", "concurrency": "--concurrency",
        "request_rate": "--request-rate"}  # fmt: skip
ARGUMENT_AXIS = {"prompt_tokens": "prompt_tokens", "new_tokens": "new_tokens",
                 "seq_len": "prompt_tokens", "concurrency": "concurrency",
                 "request_rate": "request_rate"}  # fmt: skip
RATE_AXES = {"request_rate"}
"""Axes of positive numbers (requests/s), not whole counts."""
THREADS_PARAMETER = "torch_threads"


def add_sweep_options(group) -> None:
    group.addoption(
        "--prompt-tokens",
        default=None,
        metavar="LIST",
        help="prompt lengths (tokens) for generation and sequence lengths for encoder forward "
        "passes, e.g. 16,128,512 (default: each bench's own)",
    )
    group.addoption(
        "--new-tokens",
        default=None,
        metavar="LIST",
        help="generated tokens per generation bench, e.g. 32,128 (default: each bench's own)",
    )
    group.addoption(
        "--batch-sizes",
        default=None,
        metavar="LIST",
        help="batch sizes of the batch-scaling bench, e.g. 1,2,4,8,16; batch 1 is always "
        "measured, since efficiencies are relative to it (default: 1,2,4,8,16)",
    )


def parse_counts(text: str, option: str) -> list[int]:
    """`"1,2,4"` -> [1, 2, 4]: positive integers, each once, in the order given."""
    return parse_list(text, option, int, lambda value: value >= 1, "positive whole numbers")


def parse_rates(text: str, option: str) -> list[float]:
    """`"0.5,1,2"` -> [0.5, 1.0, 2.0]: positive finite numbers, each once, and distinct in the
    six significant digits a level is named by (`rate=1`)."""
    rates = parse_list(text, option, float, lambda value: 0 < value < float("inf"),
                       "positive numbers")  # fmt: skip
    if len({f"{rate:g}" for rate in rates}) != len(rates):
        raise ValueError(f"{option} takes rates that differ in their first six significant "
                         f"digits (each names its load level), got '{text}'.")  # fmt: skip
    return rates


def parse_list(text: str, option: str, convert, valid, what: str) -> list:
    """The comma-separated values of `text`, converted; ValueError in one sentence when one is
    not `valid`, none is given or one repeats."""
    try:
        values = [convert(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(map(valid, values)) or len(set(values)) != len(values):
        raise ValueError(f"{option} takes distinct {what} separated by commas, got '{text}'.")
    return values


MIN_NEW_TOKENS = 2
"""Fewest new tokens a generation figure can be made from: the first token ends the prefill,
so one new token has no decode step to time."""


def resolve_sweeps(options) -> dict[str, list[int]]:
    """The axes given on the command line, parsed: {axis: values}, load levels from the lowest
    up (answers under load are compared with concurrency 1's, and a sweep towards saturation
    starts unloaded); ValueError in one sentence for a list that cannot be measured."""
    sweeps = {
        axis: (parse_rates if axis in RATE_AXES else parse_counts)(getattr(options, axis), option)
        for axis, option in AXES.items()
        if getattr(options, axis) is not None
    }
    for axis in ("concurrency", "request_rate"):
        if axis in sweeps:
            sweeps[axis] = sorted(sweeps[axis])
    if min(sweeps.get("new_tokens", [MIN_NEW_TOKENS])) < MIN_NEW_TOKENS:
        raise ValueError(
            f"--new-tokens {options.new_tokens} is refused: the first new token ends the "
            f"prefill, so fewer than {MIN_NEW_TOKENS} leave no decode step to time (time to "
            f"first token alone is --new-tokens 2's ttft_seconds)."
        )
    return sweeps


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sweep(**defaults): arguments swept by --prompt-tokens/--new-tokens, with their "
        "default values",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = run_state(metafunc.config)
    marker = metafunc.definition.get_closest_marker("sweep")
    for argument, default in (marker.kwargs if marker else {}).items():
        given = state.sweeps.get(ARGUMENT_AXIS[argument])
        metafunc.parametrize(argument, given or default)
    if len(state.thread_counts) > 1 and THREADS_PARAMETER in metafunc.fixturenames:
        metafunc.parametrize(
            THREADS_PARAMETER, state.thread_counts, ids=[f"threads{n}" for n in state.thread_counts]
        )


@pytest.fixture
def torch_threads(request: pytest.FixtureRequest) -> int:
    """Intra-op threads of this bench: the --threads value, or one of them when several."""
    return getattr(request, "param", run_state(request.config).threads)


@pytest.fixture(autouse=True)
def _apply_threads(request: pytest.FixtureRequest, torch_threads: int) -> None:
    """With several --threads values, set this bench's thread count before it runs."""
    if len(run_state(request.config).thread_counts) > 1:
        compute.set_threads(torch_threads)


@pytest.fixture(scope="session")
def axis(request: pytest.FixtureRequest):
    """`axis(name, default)`: the values of a swept axis that is not a test parameter (e.g.
    "batch_sizes"): the command line's list, or `default`."""
    sweeps = run_state(request.config).sweeps

    def values(name: str, default):
        return list(sweeps.get(name) or default)

    return values
