"""Rendering reports for people: comparison tables (terminal, Markdown, CSV), the run summary,
PNG charts, generated-text tables, and the github-action-benchmark export.

May import: lmgauge.judge, lmgauge.record, lmgauge.errors. Never measures.
"""
