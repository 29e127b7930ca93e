"""Recording what a run produced: the metric catalogue (unit, direction, meaning of every figure),
sample summaries, the event journal a run writes as it goes, the RunRecorder that turns events
into a report, the versioned report and its JSON Schema, and recovery of killed runs.

May import: lmgauge.errors only. Never torch, never a measuring or quality module: a report is
read and written on machines that run no model.
"""
