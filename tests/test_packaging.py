"""What a wheel of lmgauge holds: every subpackage, and the fixtures/ folder as lmgauge.fixtures."""

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
