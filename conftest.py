"""Registers lmgauge's pytest plugin (options, the `record` fixture, the run report) and the
session fixtures of fixtures/ (each model and data set loaded once). The plugin registers
fixtures/ too, for projects that name only the plugin; naming it here shows bench authors
where their fixtures live (pytest registers a module once)."""

pytest_plugins = ["lmgauge.pytest_plugin.plugin", "lmgauge.fixtures"]
