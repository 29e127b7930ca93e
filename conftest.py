"""Registers lmgauge's pytest plugin (options, `record`, run report) and the fixture plugins."""

pytest_plugins = [
    "lmgauge.pytest_plugin",
    "fixtures.models",
    "fixtures.datasets",
    "fixtures.machine",
    "fixtures.quality",
]
