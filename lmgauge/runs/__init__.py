"""Whole runs: the end of a bench session (report, summary, gate; no pytest needed), and runs of
two sides in fresh processes: A/B runs, their report, and gate-check trials.

May import every layer below it (render, judge, record, and, to run a side's Python, the
environment). Starts pytest only as a subprocess.
"""
