"""Shared fixtures for lmgauge's own tests: tiny models built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, server_binaries
from tests.tiny_models import tiny_bert, tiny_gpt2, tiny_llama_gguf

PROJECT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester", "tests.fake_openai"]


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_gguf_file(tmp_path_factory) -> Path:
    return tiny_llama_gguf(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def tiny_llamacpp_gguf(tmp_path_factory) -> Path:
    """The tiny Llama GGUF with one BPE merge (llama.cpp refuses a vocabulary without any)."""
    folder = tmp_path_factory.mktemp("models")
    return tiny_llama_gguf(folder / "tiny-llamacpp.gguf", merges=("t h",))


@pytest.fixture(scope="session")
def postgres_url():
    """The URL of a PostgreSQL server started for this test session (tests/postgres_server.py);
    the tests that need it skip, with the reason, where no server binary is installed."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    server = PostgresServer(binaries)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty lmgauge cache for one test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("LMGAUGE_CACHE", str(folder))
    return folder


SLOW_TESTS = "slow"
"""The marker of lmgauge's own end-to-end tests, most of which run whole bench sessions or A/B
runs in subprocesses (4-140 s each on the 2-core VM). `pytest tests` leaves them out unless -m
or -k selects, or the command line names them; `pytest tests -m slow` runs only them, and CI
runs them too (.ci/run)."""


LEFT_OUT = pytest.StashKey[int]()
LEFT_OUT_OUTPUT = "lmgauge_slow_tests_left_out"


def named_tests(config) -> list[str]:
    """The test ids named on the command line (`path::test`), relative to the root folder."""
    named = []
    for argument in config.args:
        path, separator, rest = argument.partition("::")
        resolved = Path(path).resolve()
        if separator and resolved.is_relative_to(config.rootpath):
            named.append(f"{resolved.relative_to(config.rootpath).as_posix()}::{rest}")
    return named


def pytest_collection_modifyitems(config, items):
    """Without -m or -k, leave out the tests marked slow (unless named one by one on the
    command line) and say so once at the end."""
    if config.option.markexpr or config.option.keyword:
        return
    named = named_tests(config)
    slow = [item for item in items if item.get_closest_marker(SLOW_TESTS)
            and not any(item.nodeid.startswith(test) for test in named)]  # fmt: skip
    if slow:
        items[:] = [item for item in items if item not in slow]
        config.hook.pytest_deselected(items=slow)
        config.stash[LEFT_OUT] = len(slow)


def pytest_sessionfinish(session):
    """On a pytest-xdist worker, hand the count left out to the controller, which collects
    nothing itself (pytest_testnodedown)."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output[LEFT_OUT_OUTPUT] = session.config.stash.get(LEFT_OUT, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: every worker collected the same tests, so any one's count."""
    left_out = getattr(node, "workeroutput", {}).get(LEFT_OUT_OUTPUT, 0)
    node.config.stash[LEFT_OUT] = max(node.config.stash.get(LEFT_OUT, 0), left_out)


def pytest_terminal_summary(terminalreporter, config):
    left_out = config.stash.get(LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"lmgauge tests: {left_out} slow end-to-end test{'s' * (left_out > 1)} left out; "
            "`./dev pytest tests -m slow` runs them (and CI)"
        )
