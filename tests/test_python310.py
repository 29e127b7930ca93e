"""Python 3.10 (what pyproject.toml and the README promise) has no tomllib: the TOML readers
fall back to tomli, declared as a dependency for Python < 3.11."""

import importlib
import sys

import pytest
import tomllib

from tests.conftest import PROJECT

TOML_READERS = ("lmgauge.judge.gate_rules", "lmgauge.quality.thresholds", "lmgauge.record.metrics")


@pytest.mark.parametrize("module", TOML_READERS)
def test_toml_readers_import_without_tomllib(monkeypatch, module):
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", tomllib)
    reloaded = importlib.reload(importlib.import_module(module))
    assert reloaded.tomllib is tomllib
    monkeypatch.undo()
    importlib.reload(reloaded)


def test_tomli_is_a_dependency_where_tomllib_is_missing():
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=3.10"
    assert any(d.startswith("tomli") and "python_version < '3.11'" in d
               for d in pyproject["project"]["dependencies"])  # fmt: skip
