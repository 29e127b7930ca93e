"""What a model is made of, without running a benchmark: parameter anatomy (counts and bytes), the
roofline bounds its size implies on a calibrated machine, and the next-token anatomy of a
causal LM (hidden states -> LM head -> token).

May import: lmgauge.sources, lmgauge.errors, lmgauge.compute.
"""
