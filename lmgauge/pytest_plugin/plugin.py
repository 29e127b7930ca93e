"""lmgauge's pytest plugin: registers every part of it with pytest.

Name it in a conftest.py (`pytest_plugins = ["lmgauge.pytest_plugin.plugin"]`); it is not an
entry point, so it never loads into other projects. It registers the session fixtures of the
project's top-level fixtures/ folder too (installed as lmgauge.fixtures), so a project that only
pip installs lmgauge gets `loaded_model` and `polarity` from the same one line.
"""

pytest_plugins = [
    "lmgauge.pytest_plugin.sweeps",
    "lmgauge.pytest_plugin.options",
    "lmgauge.pytest_plugin.record_fixtures",
    "lmgauge.pytest_plugin.session_report",
    "lmgauge.pytest_plugin.subjects",
    "lmgauge.fixtures",
    "lmgauge.pytest_plugin.machine_fixtures",
    "lmgauge.pytest_plugin.quality_fixtures",
]
