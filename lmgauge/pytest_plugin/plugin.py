"""lmgauge's pytest plugin: registers every part of it with pytest.

Name it in a conftest.py (`pytest_plugins = ["lmgauge.pytest_plugin.plugin"]`); it is not an
entry point, so it never loads into other projects.
"""

pytest_plugins = [
    "lmgauge.pytest_plugin.sweeps",
    "lmgauge.pytest_plugin.options",
    "lmgauge.pytest_plugin.record_fixtures",
    "lmgauge.pytest_plugin.session_report",
    "lmgauge.pytest_plugin.model_fixtures",
    "lmgauge.pytest_plugin.dataset_fixtures",
    "lmgauge.pytest_plugin.machine_fixtures",
    "lmgauge.pytest_plugin.quality_fixtures",
]
