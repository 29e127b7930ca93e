"""The `lmgauge` command: cache and model management, report commands (compare, gate, plot,
summary, export-github), and the commands that run benches (ab, gate-check, recover).

May import every layer but lmgauge.pytest_plugin.
"""
