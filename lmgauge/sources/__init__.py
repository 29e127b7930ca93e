"""Where models, data and inputs come from: the model registry, the offline assets and their
cache, Hub snapshots, model builds (synthetic twins, GGUF), loading a model into memory, the
sentence-polarity data set, and input ids of exact token lengths.

May import: lmgauge.errors, lmgauge.compute, and other sources modules. Nothing here measures,
records or judges.
"""
