"""Shared fixtures for lmgauge's own tests: tiny models built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, server_binaries
from tests.tiny_models import tiny_bert, tiny_gpt2, tiny_llama_gguf

PROJECT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]


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
