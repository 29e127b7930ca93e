"""Registers lmgauge's pytest plugin: options, fixtures, the `record` fixture and the run report."""

pytest_plugins = ["lmgauge.pytest_plugin.plugin"]
