"""How lmgauge is packaged: every subpackage, and the fixtures/ folder as lmgauge.fixtures, in a
wheel (pyproject.toml lists them) and in a checkout or a worktree of another commit."""

from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from tests.conftest import PROJECT


def test_every_subpackage_and_the_fixtures_folder_are_packaged():
    setup = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]
    inits = (PROJECT / "lmgauge").glob("*/__init__.py")
    folders = {f"lmgauge.{path.parent.name}" for path in inits}
    assert set(setup["packages"]) == {"lmgauge", "lmgauge.fixtures", *folders}
    assert setup["package-dir"] == {"lmgauge.fixtures": "fixtures"}


def test_the_installed_plugin_finds_the_fixtures_folder():
    import lmgauge.fixtures

    assert Path(lmgauge.fixtures.__file__).parent == PROJECT / "fixtures"
    assert lmgauge.fixtures.pytest_plugins == ["lmgauge.fixtures.models",
                                               "lmgauge.fixtures.datasets"]  # fmt: skip


def test_a_worktree_of_another_commit_loads_its_own_fixtures(tmp_path):
    """Found by review: the editable install mapped `lmgauge.fixtures` to the checkout it was
    installed from, so `lmgauge ab --base REF` ran REF's lmgauge with this checkout's fixtures."""
    import shutil
    import subprocess
    import sys

    for folder in ("lmgauge", "fixtures"):
        shutil.copytree(PROJECT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shown = subprocess.run(
        [sys.executable, "-c", "import lmgauge.fixtures.models as m; print(m.__file__)"],
        cwd=tmp_path.parent, env={"PYTHONPATH": str(tmp_path)}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert shown.stdout.strip() == str(tmp_path / "fixtures" / "models.py")
