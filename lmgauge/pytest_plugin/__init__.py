"""The pytest layer, and the only part of lmgauge that imports pytest: command-line options, the
session state, the `record`/`record_text` fixtures, session-scoped model, data set, calibration
and threshold fixtures, outcome collection, and the hooks that write the run report through
lmgauge.runs.session_end. Registered by a conftest.py naming lmgauge.pytest_plugin.plugin.

May import every layer but lmgauge.cli.
"""
