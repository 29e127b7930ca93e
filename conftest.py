"""Registers lmgauge's pytest plugin (options, the `record` fixture, the run report) and the
session fixtures of fixtures/ (each model and data set loaded once)."""

pytest_plugins = ["lmgauge.pytest_plugin.plugin", "lmgauge.fixtures"]
