"""The import-linter contracts in pyproject.toml hold for lmgauge, and break on a wrong import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_layers_hold():
    done = lint_imports(PROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


WRONG_IMPORTS = [
    ("judge/compare.py", "from lmgauge.cli import main", "imports only the layers below it"),
    ("measure/timing.py", "import pytest", "Only the pytest layer imports pytest"),
    ("record/stats.py", "import torch", "never measure"),
    ("render/plots.py", "from lmgauge.measure import timing", "never measure"),
]


@pytest.mark.parametrize(("module", "line", "contract"), WRONG_IMPORTS)
def test_a_wrong_import_breaks_a_contract(tmp_path, module, line, contract):
    shutil.copytree(
        PROJECT / "lmgauge", tmp_path / "lmgauge", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    path = tmp_path / "lmgauge" / module
    path.write_text(path.read_text() + f"\n\ndef _wrong():\n    {line}\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
