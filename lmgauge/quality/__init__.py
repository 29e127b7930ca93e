"""How good a model's output is: frozen features and classical baselines, fine-tuning (full and
LoRA), perplexity, generated text, known answers, diversity, the thresholds they are judged
against, and the broken controls that must fail those thresholds.

May import: lmgauge.measure (memory of a fine-tuning run), lmgauge.model, lmgauge.sources,
lmgauge.errors, lmgauge.compute.
"""
